"""The workflow's steps, one function per Snakemake rule.

The scripts in ``workflow/scripts`` only unpack ``snakemake.input/params/
output`` and call `run_step` with one of these. Every output is written
atomically, so an interrupted or failed step leaves nothing half-written, and a
user error ends the job with one line (in the log and on stderr) and exit
status 2.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import pandas as pd

from neacovid.data.io import atomic_path, write_csv
from neacovid.errors import MESSAGE_LIMIT, DataError, NeaCovidError, printable

log = logging.getLogger("neacovid")

EXIT_USER_ERROR = 2


def _design(spec: Mapping):
    """The run's design from the config's ``design:``. Imported here, not at the top:
    the steps without statistics (harmonising, figures, report, annex, notebooks) then
    start without scipy (about 0.25 s of CPU per job)."""
    from neacovid.survey.design import Design

    return Design.from_mapping(spec)


def run_step(step: Callable[..., None], log_file: str | None = None, **kwargs) -> None:
    """Run one step with logging to ``log_file``; a user error exits with status 2."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if log_file:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(log_file, mode="w"))
    logging.basicConfig(level=logging.INFO, format="%(message)s", handlers=handlers, force=True)
    logging.captureWarnings(True)
    start = time.perf_counter()
    try:
        step(**kwargs)
    except NeaCovidError as err:
        # One line, whatever the message quotes: `neacovid run` finds it by its prefix.
        log.error("neacovid: error: %s", printable(err, limit=MESSAGE_LIMIT))
        sys.exit(EXIT_USER_ERROR)
    log.info("%s done in %.2f s", step.__name__, time.perf_counter() - start)


# -- steps --------------------------------------------------------------------


def synthesize(out_dir: str, seed: int, scale: float, waves_csv: str) -> None:
    from neacovid.data.synth import write_waves

    paths = write_waves(out_dir, seed=seed, scale=scale, waves_csv=waves_csv)
    for wave, path in paths.items():
        log.info("wrote %s (wave %s)", path, wave)


def harmonize(data_file: str, wave: str, codebook, strict: bool, parquet: str, audit: str) -> None:
    """One wave's file -> its harmonised parquet and audit; ``codebook`` a path or a
    loaded codebook."""
    from neacovid.data.codebook import load_codebook
    from neacovid.data.harmonize import harmonize_wave

    if isinstance(codebook, str | os.PathLike):
        codebook = load_codebook(codebook)
    frame, report = harmonize_wave(data_file, wave, codebook, strict=strict)
    with atomic_path(parquet) as tmp:
        frame.to_parquet(tmp, index=False)
    write_json(report, audit)
    log.info(
        "wave %s: %d rows read, %d kept, excluded %s",
        wave,
        report["rows_read"],
        report["rows_kept"],
        report["rows_excluded"],
    )


def harmonize_waves(
    files: Mapping[str, str],
    codebook: str,
    strict: bool,
    parquets: Mapping[str, str],
    audits: Mapping[str, str],
) -> None:
    """Every wave's file (``files``: wave -> path) in one job: one process start and one
    SPSS reader and one reading of the codebook for all of them."""
    from neacovid.data.codebook import load_codebook

    loaded = load_codebook(codebook)
    for wave, data_file in files.items():
        harmonize(data_file, wave, loaded, strict, parquets[wave], audits[wave])


def indicators(
    harmonized: Sequence[str],
    spec: Mapping,
    output: str,
    baseline: str | None = None,
    baseline_file: str | None = None,
    design: Mapping | None = None,
    design_check: str | None = None,
) -> None:
    """Stack the waves, derive the indicators, carry the baseline wave's stratum; with
    ``design``, bind it to the result and write ``design_check`` (`check_design`)."""
    from neacovid.data.indicators import analysis_data

    base = pd.read_parquet(baseline_file) if baseline_file else None
    analysis, unmatched = analysis_data(
        [pd.read_parquet(p) for p in harmonized], spec, baseline, base
    )
    if unmatched:
        log.warning(
            "%d rows of respondents who are not in the baseline wave %s keep the "
            "stratum of their own wave",
            unmatched,
            baseline,
        )
    with atomic_path(output) as tmp:
        analysis.to_parquet(tmp, index=False)
    log.info("analysis data: %d rows, %d columns", *analysis.shape)
    if design is not None:
        check_design(output, design, design_check)


def tables(
    analysis: str,
    design: Mapping,
    share_indicators: Sequence[str],
    mean_indicators: Sequence[str],
    breakdowns: Sequence[str],
    outputs: Sequence[str],
    ci: str,
    level: float,
    disclosure: Mapping,
) -> None:
    from neacovid.publish.disclosure import DisclosureRules, apply_rules
    from neacovid.publish.tables import DERIVED_FROM, estimate_tables, table_specs

    data = pd.read_parquet(analysis)
    specs = table_specs(share_indicators, mean_indicators, breakdowns, DERIVED_FROM)
    wanted = {Path(p).stem: p for p in outputs}
    missing = sorted(set(wanted) - {s.name for s in specs})
    if missing:
        raise DataError(f"no table definition for {missing[0]}; check config.yaml tables")
    specs = [s for s in specs if s.name in wanted]
    rules = DisclosureRules.from_config(disclosure)
    estimated = estimate_tables(data, _design(design), specs, ci, level)
    for spec in specs:
        table = apply_rules(estimated[spec.name], rules, spec.by, partition=spec.breakdown)
        write_csv(table, wanted[spec.name])
        counts = table["status"].value_counts().to_dict()
        log.info("wrote %s (%d rows; %s)", wanted[spec.name], len(table), counts)


def key_figures(
    analysis: str,
    published: str,
    design: Mapping,
    populations: Mapping,
    ci: str,
    level: float,
    disclosure: Mapping,
    estimate_tables: Sequence[str],
    output: str,
) -> None:
    from neacovid.publish.disclosure import (
        DisclosureRules,
        protect_key_figures,
        read_cell_status,
    )
    from neacovid.publish.keyfigures import key_figures as compute

    data = pd.read_parquet(analysis)
    figures = pd.read_csv(published, dtype={"wave": str, "category": str})
    table = compute(data, _design(design), figures, populations, ci, level)
    # The same cells stay hidden (or indicative) here as in the estimate tables.
    table = protect_key_figures(
        table,
        DisclosureRules.from_config(disclosure),
        read_cell_status(estimate_tables),
        populations,
    )
    write_csv(table, output)
    agree = int(table["within_ci"].sum())
    log.info("key figures: %d of %d published figures inside this run's CI", agree, len(table))


def tables_and_key_figures(
    analysis: str,
    published: str,
    design: Mapping,
    share_indicators: Sequence[str],
    mean_indicators: Sequence[str],
    breakdowns: Sequence[str],
    populations: Mapping,
    ci: str,
    level: float,
    disclosure: Mapping,
    outputs: Sequence[str],
    key_figures_output: str,
) -> None:
    """`tables`, then `key_figures` from them: one job."""
    tables(
        analysis,
        design,
        share_indicators,
        mean_indicators,
        breakdowns,
        outputs,
        ci,
        level,
        disclosure,
    )
    key_figures(
        analysis, published, design, populations, ci, level, disclosure, outputs, key_figures_output
    )


def check_design(analysis: str, design: Mapping, output: str) -> None:
    """Bind the run's one design to the analysis data before any estimate.

    A design problem (a lonely PSU under ``fail``, a PSU in two strata, bad
    weights, a missing calibration cell) then stops the run before a table
    is written. The summary names the design every output uses.
    """
    data = pd.read_parquet(analysis)
    bound = _design(design).bind(data)
    calibration = bound.calibration
    summary = {
        "design": dict(design),
        "strata": bound.n_strata,
        "psus": bound.n_psu,
        "rows": bound.n_rows,
        "lonely_strata": [str(s) for s in bound.stratum_labels[bound.lonely_strata]],
        "calibration_cells": 0 if calibration is None else calibration.n_columns,
        "calibration_rank": 0 if calibration is None else len(calibration.basis),
    }
    write_json(summary, output)
    log.info("design bound: %s", summary)


def compare(
    analysis: str,
    design: Mapping,
    spec: Mapping,
    level: float,
    disclosure: Mapping,
    estimate_tables: Sequence[str],
    outputs: Mapping[str, str],
) -> None:
    """Changes vs the base wave and between consecutive waves, group contrasts,
    differences in differences and the location x age test, on the one design."""
    from neacovid.publish.disclosure import (
        DisclosureRules,
        align_changes,
        align_contrasts,
        apply_rules,
        read_cell_status,
    )
    from neacovid.publish.tables import (
        change_table,
        chisq_table,
        contrast_table,
        did_table,
        flat_families,
    )

    data = pd.read_parquet(analysis)
    rules = DisclosureRules.from_config(disclosure)
    # Cells hidden (or indicative) in the estimate tables stay so in every comparison.
    cells = read_cell_status(estimate_tables)
    bound = _design(design).bind(data)
    indicators = list(spec["indicators"])
    breakdowns = list(spec["breakdowns"])
    method, alpha = spec["multiple_testing"], spec["alpha"]
    for name, base in (("changes_vs_base", str(spec["base"])), ("changes_consecutive", None)):
        table = change_table(data, bound, indicators, breakdowns, base, level, method, alpha)
        table = apply_rules(
            table,
            rules,
            ["indicator", "breakdown", "group", "wave", "base"],
            n_columns=["n", "base_n"],
            with_columns=["n_with", "base_n_with"],
            rse=False,
        )
        write_csv(align_changes(table, cells), outputs[name])
    table = contrast_table(data, bound, indicators, spec["contrasts"], level, method, alpha)
    table = apply_rules(
        table,
        rules,
        ["indicator", "contrast", "wave", "location"],
        n_columns=["n_a", "n_b"],
        with_columns=["n_with_a", "n_with_b"],
        rse=False,
    )
    write_csv(align_contrasts(table, cells), outputs["contrasts"])
    table = did_table(data, bound, indicators, spec["did"], str(spec["base"]), level, method, alpha)
    by = [c for c in table.columns if c in {b for d in spec["did"] for b in d["by"]}]
    table = apply_rules(
        table,
        rules,
        ["indicator", "comparison", *by, "wave"],
        n_columns=["n_a", "base_n_a", "n_b", "base_n_b"],
        with_columns=["n_with_a", "base_n_with_a", "n_with_b", "base_n_with_b"],
        rse=False,
    )
    write_csv(table, outputs["did"])
    test = spec["test"]
    table = chisq_table(data, bound, test["row"], test["col"], test["by"])
    table = flat_families(table, ["row", "col"], method, alpha)
    write_csv(apply_rules(table, rules, [test["by"]], rse=False), outputs["test"])
    log.info("comparisons written: %s", ", ".join(outputs.values()))


def models(
    analysis: str,
    design: Mapping,
    spec: Mapping,
    level: float,
    alpha: float,
    disclosure: Mapping,
    outputs: Mapping[str, Mapping[str, str]],
) -> None:
    """Adjusted logistic regressions per indicator (and per wave): odds ratios and the
    Wald test of every factor. A model that cannot be estimated (separation in a
    small sample, say) is a row that says so; the other outputs still come."""
    from neacovid.publish.disclosure import DisclosureRules
    from neacovid.publish.tables import model_tables

    data = pd.read_parquet(analysis)
    bound = _design(design).bind(data)
    rules = DisclosureRules.from_config(disclosure)
    for indicator, paths in outputs.items():
        coefficients, tests = model_tables(
            data,
            bound,
            indicator,
            spec["effects"],
            spec["adjust"],
            rules,
            by_wave=spec["by_wave"],
            references=spec["references"],
            level=level,
            alpha=alpha,
        )
        write_csv(coefficients, paths["coefficients"])
        write_csv(tests, paths["tests"])
        failed = (coefficients["status"] == "not_estimable").sum()
        log.info(
            "model %s: %d rows%s",
            indicator,
            len(coefficients),
            f", {failed} model(s) not estimable" if failed else "",
        )


def attrition(
    analysis: str,
    design: Mapping,
    baseline: str,
    spec: Mapping,
    level: float,
    alpha: float,
    disclosure: Mapping,
    key_figures: Mapping,
    estimate_tables: Sequence[str],
    outputs: Mapping[str, str],
) -> None:
    """Who stayed in the panel: retention, stayers against leavers in 2019, the
    retention model with its R-indicators, and the attrition sensitivity analysis
    (changes since the baseline, and the published key figures, with the wave
    weights and with attrition-adjusted weights)."""
    from neacovid.publish.attrition import (
        adjusted_weights,
        key_figures_sensitivity,
        propensity_tables,
        retention_table,
        sensitivity_table,
        stayers_table,
    )
    from neacovid.publish.disclosure import DisclosureRules, read_cell_status

    data = pd.read_parquet(analysis)
    survey_design = _design(design)
    bound = survey_design.bind(data)
    rules = DisclosureRules.from_config(disclosure)
    write_csv(
        retention_table(data, baseline, survey_design.weight, spec["breakdowns"], rules),
        outputs["retention"],
    )
    write_csv(
        stayers_table(data, bound, baseline, spec["outcomes"], level, rules, alpha),
        outputs["stayers"],
    )
    model, tests, indicators = propensity_tables(
        data, bound, baseline, spec["characteristics"], level, rules
    )
    write_csv(model, outputs["model"])
    write_csv(tests, outputs["model_tests"])
    write_csv(indicators, outputs["r_indicators"])
    adjusted = adjusted_weights(data, survey_design, baseline, spec["characteristics"])
    write_csv(
        sensitivity_table(
            data, survey_design, baseline, spec["indicators"], adjusted, level, rules
        ),
        outputs["sensitivity"],
    )
    figures = pd.read_csv(key_figures["published"], dtype={"wave": str, "category": str})
    write_csv(
        key_figures_sensitivity(
            data,
            survey_design,
            adjusted,
            figures,
            key_figures["populations"],
            key_figures["ci"],
            level,
            rules,
            read_cell_status(estimate_tables),
        ),
        outputs["sensitivity_key_figures"],
    )
    log.info("attrition tables written: %s", ", ".join(outputs.values()))


def output_check(tables: Sequence[str], output: str) -> None:
    from neacovid.publish.disclosure import output_check as collect

    text = {c: str for c in ("wave", "base", "category", "group", "a", "b")}
    frames = {Path(p).stem: pd.read_csv(p, dtype=text) for p in tables}
    check = collect(frames)
    write_csv(check, output)
    log.info(
        "output check: %d suppressed, %d indicative cells",
        (check["status"] == "suppressed").sum(),
        (check["status"] == "indicative").sum(),
    )


def provenance(
    audits: Sequence[str], references: Sequence[str], config: Mapping, output: str
) -> None:
    from neacovid.data.config import REPO
    from neacovid.publish.provenance import provenance as collect

    record = collect([json.loads(Path(a).read_text()) for a in audits], config, REPO, references)
    write_json(record, output)
    log.info("provenance: %d input files, git %s", len(record["inputs"]), record["git"])


def figures(
    location_table: str,
    location_tables: Sequence[str],
    age_group_tables: Sequence[str],
    key_figures: str,
    changes: str,
    language: str,
    data_source: str,
    out_dir: str,
    manifest: str,
    reference_wave: str = "2019",
    highlight_age_group: str | None = "15-24",
    alpha: float = 0.05,
) -> None:
    """Every report figure of one language (SVG + PNG) into ``out_dir``, and its manifest."""
    figures_all_languages(
        location_table,
        location_tables,
        age_group_tables,
        key_figures,
        changes,
        [language],
        data_source,
        {language: manifest},
        reference_wave,
        highlight_age_group,
        alpha,
        out_dirs={language: out_dir},
    )


def figures_all_languages(
    location_table: str,
    location_tables: Sequence[str],
    age_group_tables: Sequence[str],
    key_figures: str,
    changes: str,
    languages: Sequence[str],
    data_source: str,
    manifests: Mapping[str, str],
    reference_wave: str = "2019",
    highlight_age_group: str | None = "15-24",
    alpha: float = 0.05,
    out_dirs: Mapping[str, str] | None = None,
) -> None:
    """Every report figure of every language, the tables read once; each language's
    figures beside its manifest (or in ``out_dirs[language]``)."""
    from neacovid.publish.figures import build_figures, read_table, save_figure, write_manifest

    by_location = pd.concat([read_table(p) for p in location_tables], ignore_index=True)
    by_age_group = pd.concat([read_table(p) for p in age_group_tables], ignore_index=True)
    location, key, change = (read_table(p) for p in (location_table, key_figures, changes))
    indicators = list(dict.fromkeys(by_location["indicator"]))
    sources = {
        "location": [Path(location_table).name],
        "by_location": [Path(p).name for p in location_tables],
        "by_age_group": [Path(p).name for p in age_group_tables],
        "key_figures": [Path(key_figures).name],
        "changes": [Path(changes).name],
    }
    for language in languages:
        made = build_figures(
            location,
            by_location,
            by_age_group,
            key,
            language,
            data_source,
            str(reference_wave),
            highlight_age_group,
            indicators,
            sources,
            changes=change,
            alpha=alpha,
        )
        manifest = manifests[language]
        out_dir = (out_dirs or {}).get(language) or os.path.dirname(manifest)
        entries = [save_figure(f, out_dir) for f in made]
        write_manifest(entries, language, manifest)
        log.info("figures (%s): %d figures, manifest %s", language, len(entries), manifest)


def notebook(
    notebook: str,
    analysis: str,
    design: Mapping,
    ci: str,
    level: float,
    disclosure: Mapping,
    overrides: Mapping,
    timeout: int,
    ipynb: str,
    html: str,
) -> None:
    """One analyst notebook executed by papermill, saved as .ipynb and .html."""
    from neacovid.publish.notebooks import pipeline_parameters, render

    render(
        notebook=notebook,
        ipynb=ipynb,
        html=html,
        parameters=pipeline_parameters(analysis, design, ci, level, disclosure),
        overrides=overrides,
        timeout=timeout,
    )


def spreadsheet(
    estimate_tables: Sequence[str],
    key_figures: str,
    changes: Sequence[str],
    contrasts: str,
    did: str,
    test: str,
    models: Sequence[str],
    model_tests: Sequence[str],
    attrition: str,
    attrition_stayers: str,
    attrition_model: str,
    attrition_model_tests: str,
    r_indicators: str,
    sensitivity: str,
    sensitivity_key_figures: str,
    provenance: str,
    template_dir: str,
    language: str,
    config: Mapping,
    output: str,
) -> None:
    """The tables annex of one language: every published table in one workbook."""
    from neacovid.publish.spreadsheet import AnnexInputs, write_workbook

    inputs = AnnexInputs(
        estimate_tables=[Path(p) for p in estimate_tables],
        key_figures=Path(key_figures),
        changes=[Path(p) for p in changes],
        contrasts=Path(contrasts),
        did=Path(did),
        test=Path(test),
        models=[Path(p) for p in models],
        model_tests=[Path(p) for p in model_tests],
        attrition=Path(attrition),
        attrition_stayers=Path(attrition_stayers),
        attrition_model=Path(attrition_model),
        attrition_model_tests=Path(attrition_model_tests),
        r_indicators=Path(r_indicators),
        sensitivity=Path(sensitivity),
        sensitivity_key_figures=Path(sensitivity_key_figures),
        provenance=Path(provenance),
    )
    with atomic_path(output) as tmp:
        sheets = write_workbook(tmp, inputs, config, language, template_dir)
    log.info("tables annex (%s): %s, %d tables", language, output, len(sheets))


def notebooks(
    notebook_dir: str,
    names: Sequence[str],
    analysis: str,
    design: Mapping,
    ci: str,
    level: float,
    disclosure: Mapping,
    overrides: Mapping,
    timeout: int,
    out_dir: str,
) -> None:
    """Every analyst notebook in one job and one kernel: ``<out_dir>/<name>.ipynb``
    and ``.html``."""
    from neacovid.publish.notebooks import pipeline_parameters, render_many

    render_many(
        [
            (
                Path(notebook_dir) / f"{name}.ipynb",
                Path(out_dir) / f"{name}.ipynb",
                Path(out_dir) / f"{name}.html",
                overrides.get(name, {}),
            )
            for name in names
        ],
        parameters=pipeline_parameters(analysis, design, ci, level, disclosure),
        timeout=timeout,
    )


def report(
    results_dir: str,
    template_dir: str,
    figures_manifest: str,
    language: str,
    config: Mapping,
    output: str,
    workbook: str | None = None,
) -> None:
    from neacovid.publish.report import ReportInputs, render_report

    inputs = ReportInputs(
        results=Path(results_dir),
        template_dir=Path(template_dir),
        config=config,
        figures_manifest=Path(figures_manifest),
        # The tables annex, linked from the page by a path relative to it.
        workbook=None
        if workbook is None
        else Path(os.path.relpath(workbook, Path(output).parent)).as_posix(),
    )
    html = render_report(inputs, language)
    with atomic_path(output) as tmp:
        tmp.write_text(html, encoding="utf-8")
    log.info("report (%s): %s, %d bytes", language, output, len(html.encode("utf-8")))


def reports(
    languages: Sequence[str],
    figures_manifests: Mapping[str, str],
    outputs: Mapping[str, str],
    workbooks: Mapping[str, str] | None = None,
    **common,
) -> None:
    """The report page of every language in one job, each linking its own annex."""
    for language in languages:
        report(
            language=language,
            figures_manifest=figures_manifests[language],
            output=outputs[language],
            workbook=(workbooks or {}).get(language),
            **common,
        )


def spreadsheets(outputs: Mapping[str, str], **common) -> None:
    """The tables annex of every language (``outputs``: language -> workbook), one job."""
    for language, output in outputs.items():
        spreadsheet(language=language, output=output, **common)


# -- helpers ------------------------------------------------------------------


def write_json(obj, target: str | os.PathLike) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
