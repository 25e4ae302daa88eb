"""The ``neacovid`` command line: thin wrappers around the library.

A user error (bad file, unknown column, invalid design) prints one line on
stderr and exits with status 2, without a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from neacovid.errors import MESSAGE_LIMIT, ConfigError, DataError, NeaCovidError, printable
from neacovid.survey.ci import CI_METHODS
from neacovid.survey.design import LONELY_PSU_OPTIONS, Design

EXIT_USER_ERROR = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit status 2)."""

    def error(self, message: str):
        message = printable(message, limit=MESSAGE_LIMIT)
        self.exit(EXIT_USER_ERROR, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _split(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [part.strip() for part in text.split(",") if part.strip()]


def _add_design_options(parser: argparse.ArgumentParser) -> None:
    """The options every estimating sub-command shares: level, output, design."""
    parser.add_argument(
        "--level", type=float, default=0.95, help="confidence level (default: 0.95)"
    )
    parser.add_argument("--out", help="output CSV file (default: standard output)")
    parser.add_argument(
        "--no-disclosure",
        action="store_true",
        help="skip the disclosure rules of config.yaml (by default a cell with fewer than "
        "min_n respondents, or fewer than min_n with or without the answer, is suppressed "
        "with its complement, and weighted counts and deff are rounded): every row then "
        "says status=unchecked, not for release",
    )
    group = parser.add_argument_group("survey design (as R's svydesign)")
    group.add_argument("--weight", required=True, help="sampling weight column (positive)")
    group.add_argument("--strata", help="stratum column (default: no strata)")
    group.add_argument(
        "--psu", help="primary sampling unit (cluster) column (default: each row is its own PSU)"
    )
    group.add_argument(
        "--fpc",
        help="finite population correction column: the stratum's population count of "
        "PSUs, or the sampling fraction (<= 1) (default: sampling with replacement)",
    )
    group.add_argument(
        "--lonely-psu",
        default="fail",
        choices=LONELY_PSU_OPTIONS,
        help="what a stratum with one PSU contributes, as R's survey.lonely.psu (default: fail)",
    )
    group.add_argument(
        "--calibration",
        metavar="TERMS",
        help="comma-separated terms the weights are calibrated on, each a column or a "
        "cross-classification a:b, e.g. wave:sector,wave:age_group. The weights are used as "
        "given (already calibrated to those margins); the variance uses the calibration "
        "residuals, as R's calibrate(design, ~terms, population = <totals of the weights>) "
        "(default: none)",
    )


def _add_subset_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--subset",
        metavar="EXPR",
        help="estimate in the rows where EXPR is true, a pandas expression over the columns "
        "(e.g. \"sector == 'zorg' and age_group != '15-24'\"). As R's subset(design, EXPR): "
        "the other rows stay in the design (their strata and PSUs count for the variance "
        "and the df) but are in no domain (default: all rows)",
    )


def _check_estimate(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """argparse's errors for the options of `estimate` that exclude each other."""
    for flags in (("--var", "--ratio"), ("--mean", "--quantile", "--ratio", "--ci")):
        given = [f for f in flags if getattr(args, f.lstrip("-")) not in (None, False)]
        if len(given) > 1:
            parser.error(f"argument {given[1]}: not allowed with argument {given[0]}")
    if not (args.var or args.ratio):
        parser.error("one of the arguments --var --ratio is required")


def _design(args: argparse.Namespace) -> Design:
    return Design(
        weight=args.weight,
        strata=args.strata,
        psu=args.psu,
        fpc=args.fpc,
        lonely_psu=args.lonely_psu,
        calibration=tuple(_split(args.calibration) or ()),
    )


def _write(frame, out: str | None) -> None:
    from neacovid.data.io import write_csv

    if out:
        write_csv(frame, out)
    else:
        frame.to_csv(sys.stdout, index=False, lineterminator="\n")


def _rules():
    """The project's disclosure rules: config.yaml's ``disclosure:``."""
    from neacovid.data.config import DEFAULT_CONFIG, load_yaml
    from neacovid.publish.disclosure import DisclosureRules

    return DisclosureRules.from_config(load_yaml(DEFAULT_CONFIG).get("disclosure"))


def _protected(args: argparse.Namespace, table, protect):
    """``protect(table, rules)`` unless --no-disclosure, which says so in every row."""
    from neacovid.publish.disclosure import unchecked

    return unchecked(table) if args.no_disclosure else protect(table, _rules())


def _cmd_estimate(args: argparse.Namespace) -> None:
    from neacovid.data.io import read_table
    from neacovid.publish.disclosure import protect_estimates, protect_quantiles
    from neacovid.survey.estimate import means, quantiles, ratios, shares

    by = _split(args.by) or []
    design = _design(args)
    variables = _ratio_parts(args.ratio) if args.ratio else [args.var]
    probs = _probabilities(args.quantile) if args.quantile else None
    data = _read(read_table, args, [*variables, *by, *design.columns])
    common = dict(by=by, level=args.level, subset=args.subset)
    if args.ratio:
        result = ratios(data, design, *variables, **common)
        protect = lambda t, r: protect_estimates(t, by, r, partition=False)  # noqa: E731
    elif probs is not None:
        result = quantiles(data, design, args.var, probs, **common)
        protect = lambda t, r: protect_quantiles(t, by, r)  # noqa: E731
    elif args.mean:
        result = means(data, design, args.var, **common)
        protect = lambda t, r: protect_estimates(t, by, r)  # noqa: E731
    else:
        result = shares(data, design, args.var, ci=args.ci or "logit", **common)
        protect = lambda t, r: protect_estimates(t, by, r)  # noqa: E731
    _write(_labelled(_protected(args, result, protect), args.data, args.var, by), args.out)


def _labelled(table, path: str, var: str, by: list[str]):
    """Categories as text (0/1 floats as "0"/"1"), and for an SPSS file each coded
    column's value labels beside it (``category_label``, ``<by>_label``), as haven's
    as_factor would show them."""
    from neacovid.survey.estimate import category_label

    table = table.copy()
    coded = {"category": var, **{column: column for column in by}}
    for column in coded:
        if column in table.columns:
            table[column] = table[column].map(
                lambda v: v if v is None or (isinstance(v, float) and v != v) else category_label(v)
            )
    if Path(path).suffix.lower() not in (".sav", ".zsav"):
        return table
    from neacovid.data.spss import read_metadata

    labels = read_metadata(path).value_labels
    for column, variable in coded.items():
        if column not in table.columns or not labels.get(variable):
            continue
        texts = {category_label(code): str(text) for code, text in labels[variable].items()}
        position = table.columns.get_loc(column) + 1
        table.insert(position, f"{column}_label", table[column].map(texts))
    return table


def _read(read_table, args: argparse.Namespace, columns: list[str]):
    """The columns an estimate needs, or every column when a --subset expression
    may name any of them."""
    if args.subset:
        return read_table(args.data)
    return read_table(args.data, columns=list(dict.fromkeys(columns)))


def _ratio_parts(text: str) -> list[str]:
    parts = [part.strip() for part in text.split("/")]
    if len(parts) != 2 or not all(parts):
        raise DataError(
            f"--ratio {text!r} must be two columns NUMERATOR/DENOMINATOR, e.g. --ratio api00/enroll"
        )
    return parts


def _probabilities(text: str) -> list[float]:
    try:
        probs = [float(part) for part in _split(text) or []]
    except ValueError:
        probs = []
    if not probs or not all(0 <= p <= 1 for p in probs):
        raise DataError(
            f"--quantile {text!r} must be probabilities between 0 and 1 separated by commas, "
            "e.g. --quantile 0.25,0.5,0.75"
        )
    return probs


def _cmd_compare(args: argparse.Namespace) -> None:
    from neacovid.data.io import read_table
    from neacovid.publish.disclosure import protect_changes
    from neacovid.survey.compare import changes

    by = _split(args.by) or []
    design = _design(args)
    data = _read(read_table, args, [args.var, args.over, *by, *design.columns])
    data[args.over] = data[args.over].astype(str)
    base = None if args.base.lower() == "none" else args.base
    result = changes(
        data,
        design,
        args.var,
        over=args.over,
        base=base,
        by=by,
        level=args.level,
        subset=args.subset,
    )
    _write(_protected(args, result, lambda t, r: protect_changes(t, by, args.over, r)), args.out)


def _cmd_model(args: argparse.Namespace) -> None:
    from neacovid.data.io import read_table
    from neacovid.publish.disclosure import protect_model
    from neacovid.survey.models import MODELS, split_top_level, term_tests

    data = read_table(args.data)
    fit = MODELS[args.family]
    result = fit(data, _design(args), args.formula, level=args.level, subset=args.subset)
    tests = None
    if args.test:
        tests = term_tests(result, split_top_level(args.test, ","))
    elif args.test_out:
        raise DataError("--test-out needs --test TERMS (e.g. --test 'C(location),C(wave)')")
    binary = args.family == "binomial"
    _write(
        _protected(args, result.table, lambda t, r: protect_model(result, data, r, binary)),
        args.out,
    )
    if tests is not None:
        _write(tests, args.test_out)


def _cmd_calibrate(args: argparse.Namespace) -> None:
    from neacovid.data.io import read_table, write_table
    from neacovid.survey.calibrate import calibrate_weights, read_margins

    bounds = None
    if args.bounds:
        parts = _split(args.bounds) or []
        try:
            bounds = tuple(float(b) for b in parts)
        except ValueError:
            bounds = ()
        if len(bounds) != 2:
            raise DataError(
                f"--bounds {args.bounds!r} must be two numbers LOW,HIGH around 1 (limits on "
                "new weight / old weight), e.g. --bounds 0.5,2"
            )
    margins = read_margins(args.margins)
    data = read_table(args.data)
    if "weight_calibrated" in data.columns:
        raise DataError(
            f"{args.data} already has a column 'weight_calibrated'; rename or drop it first"
        )
    data["weight_calibrated"] = calibrate_weights(
        data, args.weight, margins, method=args.method, bounds=bounds
    )
    write_table(data, args.out)


def _cmd_synth(args: argparse.Namespace) -> None:
    from neacovid.data.synth import write_waves

    for wave, path in write_waves(args.out, seed=args.seed, scale=args.scale).items():
        print(f"{wave}\t{path}")


def _cmd_inspect(args: argparse.Namespace) -> None:
    if args.codebook_draft:
        _write_codebook_draft(args)
        return
    from neacovid.data.harmonize import inspect_file

    print(inspect_file(args.file, args.codebook))


def _write_codebook_draft(args: argparse.Namespace) -> None:
    from neacovid.data.draft import PLACEHOLDER, write_codebook_draft
    from neacovid.errors import printable

    draft = write_codebook_draft(args.file, args.codebook, args.codebook_draft, force=args.force)
    out = printable(args.codebook_draft, limit=None)
    print(
        f"Wrote {out}: {len(draft.mapped)} of {len(draft.mapped) + len(draft.unmatched)} "
        "variables with a guessed mapping (every one marked GUESS: review it), "
        f"{len(draft.unmatched)} without."
    )
    if draft.targets_without_variable:
        print(f"Targets without a variable: {', '.join(draft.targets_without_variable)}.")
    if draft.required_without_variable:
        print(
            f"Required and not found: {', '.join(draft.required_without_variable)}; the draft "
            "loads only once they are mapped."
        )
    print(
        f"Next: review {out}, rename the wave {PLACEHOLDER} to the wave's id, check it with "
        f"`neacovid inspect {printable(args.file, limit=None)} --codebook {out}`."
    )


def _cmd_run(args: argparse.Namespace) -> None:
    from neacovid.run import run_workflow

    status = run_workflow(
        configfiles=args.configfile or (),
        cores=args.cores,
        snakemake_args=[a for a in args.snakemake_args if a != "--"],
        verbose=args.verbose,
    )
    if status:
        sys.exit(status)


def _cmd_notebooks(args: argparse.Namespace) -> None:
    import importlib.util
    import shutil
    import subprocess

    from neacovid.data.config import REPO

    # `make notebooks` puts JupyterLab in .venv-lab; a Lab in this environment also does.
    lab_dir = REPO / ".venv-lab" / ("Scripts" if os.name == "nt" else "bin")
    lab = shutil.which("jupyter-lab", path=str(lab_dir))
    if lab is not None:
        command = [lab]
    elif importlib.util.find_spec("jupyterlab") is not None:
        command = [sys.executable, "-m", "jupyterlab"]
    else:
        raise ConfigError(
            "JupyterLab is not installed: run `make notebooks` (it installs the "
            "pinned Lab in .venv-lab), or `pip install -c requirements.lock "
            "jupyterlab==4.6.6` into any environment"
        )
    command += [f"--notebook-dir={REPO / 'notebooks'}", *[a for a in args.lab_args if a != "--"]]
    sys.exit(subprocess.run(command, check=False).returncode)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="neacovid",
        description="Design-based analysis of NEA COVID-19 survey microdata "
        "(weighted shares and means with R survey's variance estimates).",
    )
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    est = sub.add_parser(
        "estimate",
        help="weighted shares, means, quantiles or ratios by domain, with SE, CI and df",
        description="Per domain of --by, with Taylor-linearised standard errors equal to R "
        "survey's: the weighted share of each category of VAR (svyby(..., svyciprop), "
        "columns category, estimate, se, ci_low, ci_high, n, n_category, weighted_n, deff, "
        "df); or with --mean its mean (svymean); with --quantile its quantiles "
        "(svyquantile(..., ci = TRUE) with its defaults, qrule 'math' and Woodruff's "
        "interval; columns quantile, estimate, se, ci_low, ci_high, n, n_below, weighted_n, "
        "df); with --ratio NUM/DEN the ratio of two totals (svyratio; columns estimate, se, "
        "ci_low, ci_high, n, weighted_n, df). Share intervals follow svyciprop(method=--ci); "
        "every other interval is Student t with the domain's df (PSUs minus strata with "
        "members in the domain; svyby's confint uses the normal quantile instead). The --by "
        "columns come first; level, ci_method, status and reason last (the disclosure rules "
        "of config.yaml; see --no-disclosure). --subset restricts every estimate to a "
        "subset, as R's subset(design, EXPR).",
    )
    est.add_argument("data", help="input table: .csv, .parquet or .sav (SPSS)")
    est.add_argument(
        "--var",
        help="the variable to estimate: 0/1 or categories for shares, a number for --mean and "
        "--quantile (required unless --ratio)",
    )
    est.add_argument("--by", help="comma-separated domain columns, e.g. wave,age_group")
    est.add_argument(
        "--ci",
        choices=CI_METHODS,
        help="confidence interval method for shares, as svyciprop(method=) (default: logit)",
    )
    est.add_argument(
        "--mean",
        action="store_true",
        help="the weighted mean of a numeric VAR, as svymean, t interval",
    )
    est.add_argument(
        "--quantile",
        metavar="P,P,...",
        help="weighted quantiles of a numeric VAR at these probabilities, e.g. 0.25,0.5,0.75: "
        "R survey's svyquantile(~VAR, design, c(P, ...), ci = TRUE) (qrule 'math': the "
        "lower value when the weight share is exactly P; Woodruff interval from the t "
        "interval of the share below the estimate, mapped back; se = interval width / 2t; a "
        "limit whose share falls outside [0, 1] is empty, as R's NaN)",
    )
    est.add_argument(
        "--ratio",
        metavar="NUM/DEN",
        help="the ratio of the weighted totals of two numeric columns instead of --var, e.g. "
        "api00/enroll: R survey's svyratio(~NUM, ~DEN, design, na.rm = TRUE), Taylor SE, t "
        "interval (rows missing either column are out of the domain)",
    )
    _add_subset_option(est)
    _add_design_options(est)
    est.set_defaults(func=_cmd_estimate, check_options=lambda args: _check_estimate(est, args))

    com = sub.add_parser(
        "compare",
        help="changes between waves (panel-aware), with SE, CI, p and Holm's p",
        description="Change of the share (0/1 VAR) or mean of VAR between levels of --over, "
        "per --by group, on a design whose PSUs (--psu, e.g. the panel id) are shared across "
        "waves, so the covariance of the same respondents is carried: R survey's "
        "svyby(covmat=TRUE) + svycontrast, with a t interval and p-value on the df of the two "
        "domains. Columns: the --by columns, the level, base, estimate, base_estimate, diff, "
        "se, ci_low, ci_high, p_value, p_holm, df, se_independent, n, base_n, n_with, "
        "base_n_with, level, ci_method, status, reason.",
    )
    com.add_argument("data", help="input table: .csv, .parquet or .sav (stacked waves)")
    com.add_argument("--var", required=True, help="0/1 indicator or numeric variable")
    com.add_argument("--over", default="wave", help="the column compared (default: wave)")
    com.add_argument(
        "--base",
        default="2019",
        help="level everything is compared with (default: 2019); 'none': consecutive levels",
    )
    com.add_argument("--by", help="comma-separated group columns, e.g. location")
    _add_subset_option(com)
    _add_design_options(com)
    com.set_defaults(func=_cmd_compare)

    mod = sub.add_parser(
        "model",
        help="design-based logistic (odds ratios) or linear regression, as R's svyglm",
        description="Regression given as a formula, e.g. "
        "'burnout ~ C(location) + C(age_group) + C(wave)', with design-based (sandwich) "
        "standard errors equal to R's svyglm. --family binomial: logistic regression of a "
        "0/1 outcome, svyglm(family = quasibinomial()); columns term, estimate (log-odds), "
        "se, odds_ratio, ci_low, ci_high (odds-ratio scale), p_value, p_holm, df. --family "
        "gaussian: linear regression (weighted least squares) of a numeric outcome, "
        "svyglm(family = gaussian()); columns term, estimate, se, ci_low, ci_high, p_value, "
        "p_holm, df. Intervals and p-values are t with svyglm's df (PSUs minus strata of "
        "the rows fitted, plus 1, minus the number of coefficients). Then level, "
        "ci_method, n, n_with (binomial), status, reason. The formula is code you write, as "
        "in R: it is evaluated (numpy is available as np), so run only formulas you trust.",
    )
    mod.add_argument("data", help="input table: .csv, .parquet or .sav")
    mod.add_argument("--formula", required=True, help="outcome ~ terms (patsy syntax)")
    mod.add_argument(
        "--test",
        metavar="TERMS",
        help="Wald tests that all coefficients of each term are 0, terms as written in the "
        "formula, separated by commas, e.g. 'C(location),C(wave)' (join terms with + to test "
        "them together): R's regTermTest(model, ~term), F on (coefficients, the model's df) "
        "degrees of freedom; columns term, statistic, ndf, ddf, p_value",
    )
    mod.add_argument(
        "--test-out",
        help="CSV file for the --test results (default: standard output, after the coefficients)",
    )
    mod.add_argument(
        "--family",
        default="binomial",
        choices=("binomial", "gaussian"),
        help="binomial: logistic regression (quasibinomial); gaussian: linear regression "
        "(default: binomial)",
    )
    _add_subset_option(mod)
    _add_design_options(mod)
    mod.set_defaults(func=_cmd_model)

    cal = sub.add_parser(
        "calibrate",
        help="calibrate weights to population totals (raking or linear, as R's calibrate)",
        description="Calibrate the weights of DATA to the population totals in MARGINS.csv "
        "(columns variable,category,total; a variable is a column or a cross-classification "
        "a:b with categories written x:y) and write the table with one added column, "
        "weight_calibrated. Equal to R survey's calibrate(design, ~margins, population, "
        "calfun = 'raking' | 'linear', bounds = c(LOW, HIGH)) run to convergence (1e-12).",
    )
    cal.add_argument("data", help="input table: .csv, .parquet or .sav")
    cal.add_argument("--weight", required=True, help="the weights to calibrate (positive)")
    cal.add_argument("--margins", required=True, help="CSV with variable,category,total")
    cal.add_argument(
        "--method",
        default="raking",
        choices=("raking", "linear"),
        help="raking (g = exp(x'l), never negative) or linear (GREG, g = 1 + x'l) "
        "(default: raking)",
    )
    cal.add_argument(
        "--bounds",
        metavar="LOW,HIGH",
        help="limits on g = new weight / old weight, e.g. 0.5,2 (default: none)",
    )
    cal.add_argument("--out", required=True, help="output table: .csv or .parquet")
    cal.set_defaults(func=_cmd_calibrate)

    from neacovid.data.synth import DEFAULT_SEED

    syn = sub.add_parser(
        "synth",
        help="write synthetic NEA-like SPSS files, one per wave",
        description="Write synthetic NEA 2019 and NEA COVID-19 microdata as real SPSS .sav "
        "files (Dutch labels, user-missing codes, wave-specific variable names), one per "
        "wave of data/reference/waves.csv, calibrated to the published figures.",
    )
    syn.add_argument("--out", required=True, help="output directory for <wave>.sav")
    syn.add_argument(
        "--seed", type=int, default=DEFAULT_SEED, help=f"random seed (default: {DEFAULT_SEED})"
    )
    syn.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help="wave sizes as a fraction of the real ones (default: 1.0; 0.05 for a quick run)",
    )
    syn.set_defaults(func=_cmd_synth)

    ins = sub.add_parser(
        "inspect",
        help="list a survey file's variables, labels, codes and matching codebook waves",
        description="Print the variables of a .sav (or .csv/.parquet) file with their "
        "labels, value labels and declared missing codes, and which wave mappings of the "
        "codebook match it: what an analyst needs to map a new real file.",
    )
    ins.add_argument("file", help="the survey file")
    ins.add_argument(
        "--codebook",
        default="workflow/codebook/nea_covid.yaml",
        help="codebook to match against (default: workflow/codebook/nea_covid.yaml)",
    )
    ins.add_argument(
        "--codebook-draft",
        metavar="OUT.yaml",
        help="instead of the listing, write a codebook draft for the file: every variable "
        "with its label and codes as comments, a guessed mapping (marked GUESS: review) "
        "where a name or label matches a schema target or a variable of the same name in a "
        "codebook wave; the schema of --codebook is copied so that the draft loads as is",
    )
    ins.add_argument(
        "--force", action="store_true", help="overwrite an existing --codebook-draft file"
    )
    ins.set_defaults(func=_cmd_inspect)

    run = sub.add_parser(
        "run",
        help="check the inputs and run the whole workflow (what `make report` does)",
        description="Validate config.yaml (and --configfile overrides), check every input "
        "file against the codebook, then run the Snakemake workflow; on bad input print one "
        "line and exit with status 2 before anything is written.",
    )
    run.add_argument(
        "--configfile",
        action="append",
        help="YAML file whose keys override config.yaml (may be given more than once)",
    )
    run.add_argument("--cores", type=int, default=2, help="CPU cores for Snakemake (default: 2)")
    run.add_argument(
        "--verbose", action="store_true", help="show Snakemake's output instead of logging it"
    )
    run.add_argument(
        "snakemake_args",
        nargs=argparse.REMAINDER,
        help="further arguments for Snakemake after --, e.g. -- --forceall",
    )
    run.set_defaults(func=_cmd_run)

    lab = sub.add_parser(
        "notebooks",
        help="open the analyst notebooks in JupyterLab (what `make notebooks` does)",
        description="Start JupyterLab on notebooks/. The notebooks read the pipeline's "
        "results/analysis.parquet: run `neacovid run` first.",
    )
    lab.add_argument(
        "lab_args",
        nargs=argparse.REMAINDER,
        help="further arguments for JupyterLab after --, e.g. -- --no-browser",
    )
    lab.set_defaults(func=_cmd_notebooks)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "check_options", None):
        args.check_options(args)
    func: Callable[[argparse.Namespace], None] = args.func
    try:
        func(args)
    except NeaCovidError as err:
        # Messages quote file contents (ids, labels): one line, whatever they hold.
        message = printable(err, limit=MESSAGE_LIMIT)
        print(f"neacovid {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    except BrokenPipeError:  # e.g. piped into head
        return 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
