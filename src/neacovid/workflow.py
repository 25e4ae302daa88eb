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
from neacovid.errors import DataError, NeaCovidError
from neacovid.survey.design import Design

log = logging.getLogger("neacovid")

EXIT_USER_ERROR = 2



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
        log.error("neacovid: error: %s", err)
        sys.exit(EXIT_USER_ERROR)
    log.info("%s done in %.2f s", step.__name__, time.perf_counter() - start)


# -- steps --------------------------------------------------------------------


def synthesize(out_dir: str, seed: int, scale: float, waves_csv: str) -> None:
    from neacovid.data.synth import write_waves

    paths = write_waves(out_dir, seed=seed, scale=scale, waves_csv=waves_csv)
    for wave, path in paths.items():
        log.info("wrote %s (wave %s)", path, wave)


def harmonize(
    data_file: str, wave: str, codebook: str, strict: bool, parquet: str, audit: str
) -> None:
    from neacovid.data.codebook import load_codebook
    from neacovid.data.harmonize import harmonize_wave

    frame, report = harmonize_wave(data_file, wave, load_codebook(codebook), strict=strict)
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


def indicators(
    harmonized: Sequence[str],
    spec: Mapping,
    output: str,
    baseline: str | None = None,
    baseline_file: str | None = None,
) -> None:
    """Stack the waves, derive the indicators, carry the baseline wave's stratum."""
    from neacovid.data.indicators import carry_baseline, derive

    stacked = pd.concat([pd.read_parquet(p) for p in harmonized], ignore_index=True)
    analysis = derive(stacked, spec)
    if baseline is not None:
        base = pd.read_parquet(baseline_file) if baseline_file else stacked
        base = base[base["wave"].astype(str) == str(baseline)]
        analysis, unmatched = carry_baseline(analysis, base, str(baseline))
        if unmatched:
            log.warning(
                "%d rows of respondents who are not in the baseline wave %s keep the "
                "stratum of their own wave", unmatched, baseline,
            )
    with atomic_path(output) as tmp:
        analysis.to_parquet(tmp, index=False)
    log.info("analysis data: %d rows, %d columns", *analysis.shape)


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
    estimated = estimate_tables(data, Design.from_mapping(design), specs, ci, level)
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
        apply_rules,
        read_suppressed_cells,
        suppress_key_figures,
    )
    from neacovid.publish.keyfigures import key_figures as compute

    data = pd.read_parquet(analysis)
    figures = pd.read_csv(published, dtype={"wave": str, "category": str})
    table = compute(data, Design.from_mapping(design), figures, populations, ci, level)
    table = apply_rules(
        table, DisclosureRules.from_config(disclosure), ["wave", "population"],
        keep=["published", "within_ci"],
    )
    table["within_ci"] = table["within_ci"].where(table["status"] != "suppressed")
    # The same cells stay hidden here as in the estimate tables.
    table = suppress_key_figures(table, read_suppressed_cells(estimate_tables), populations)
    write_csv(table, output)
    agree = int(table["within_ci"].sum())
    log.info("key figures: %d of %d published figures inside this run's CI", agree, len(table))


def check_design(analysis: str, design: Mapping, output: str) -> None:
    """Bind the run's one design to the analysis data before any estimate.

    A design problem (a lonely PSU under ``fail``, a PSU in two strata, bad
    weights, a missing calibration cell) then stops the run before a table
    is written. The summary names the design every output uses.
    """
    data = pd.read_parquet(analysis)
    bound = Design.from_mapping(design).bind(data)
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
    and the location x age test, on the panel design (respondent = PSU)."""
    from neacovid.publish.disclosure import (
        DisclosureRules,
        apply_rules,
        read_suppressed_cells,
        suppress_changes,
        suppress_contrasts,
    )
    from neacovid.publish.tables import change_table, chisq_table, contrast_table

    data = pd.read_parquet(analysis)
    panel = Design.from_mapping(design)
    rules = DisclosureRules.from_config(disclosure)
    # Cells hidden in the estimate tables stay hidden in every comparison.
    hidden = read_suppressed_cells(estimate_tables)
    bound = panel.bind(data)
    indicators = list(spec["indicators"])
    breakdowns = list(spec["breakdowns"])
    for name, base in (("changes_vs_base", str(spec["base"])), ("changes_consecutive", None)):
        table = change_table(data, bound, indicators, breakdowns, base, level)
        table = apply_rules(table, rules, ["indicator", "breakdown", "group", "wave", "base"],
                            n_columns=["n", "base_n"], rse=False)
        write_csv(suppress_changes(table, hidden), outputs[name])
    table = contrast_table(data, bound, indicators, spec["contrasts"], level)
    table = apply_rules(table, rules, ["indicator", "contrast", "wave", "location"],
                        n_columns=["n_a", "n_b"], rse=False)
    write_csv(suppress_contrasts(table, hidden), outputs["contrasts"])
    test = spec["test"]
    table = chisq_table(data, bound, test["row"], test["col"], test["by"])
    write_csv(apply_rules(table, rules, [test["by"]], rse=False), outputs["test"])
    log.info("comparisons written: %s", ", ".join(outputs.values()))


def models(
    analysis: str,
    design: Mapping,
    covariates: Sequence[str],
    references: Mapping[str, str],
    level: float,
    disclosure: Mapping,
    outputs: Mapping[str, str],
) -> None:
    """Adjusted logistic regressions, one table per indicator (odds ratios)."""
    from neacovid.publish.disclosure import DisclosureRules, apply_rules
    from neacovid.publish.tables import model_table

    data = pd.read_parquet(analysis)
    bound = Design.from_mapping(design).bind(data)
    rules = DisclosureRules.from_config(disclosure)
    from neacovid.survey.models import ModelError

    for indicator, output in outputs.items():
        try:
            table = model_table(data, bound, indicator, covariates, level, references)
        except ModelError as err:
            # A model that cannot be estimated (e.g. separation in a small sample)
            # is reported as such; the other tables and the report still come.
            log.warning("model %s not estimable: %s", indicator, err)
            # The details (counts of rows predicted perfectly) stay in the log.
            reason = f"not estimable: {type(err).__name__}; see {Path(output).name} log"
            table = pd.DataFrame({"indicator": [indicator], "term": ["(model)"],
                                  "n": [0], "status": ["not_estimable"], "reason": [reason]})
            write_csv(table, output)
            continue
        table = apply_rules(table, rules, ["indicator", "term"], rse=False)
        write_csv(table, output)
        log.info("model %s: %d terms, n = %s", indicator, len(table), table["n"].iloc[0])


def output_check(tables: Sequence[str], output: str) -> None:
    from neacovid.publish.disclosure import output_check as collect

    text = {c: str for c in ("wave", "base", "category", "group", "a", "b")}
    frames = {Path(p).stem: pd.read_csv(p, dtype=text) for p in tables}
    check = collect(frames)
    write_csv(check, output)
    log.info("output check: %d suppressed, %d indicative cells",
             (check["status"] == "suppressed").sum(), (check["status"] == "indicative").sum())


def provenance(
    audits: Sequence[str], references: Sequence[str], config: Mapping, output: str
) -> None:
    from neacovid.data.config import REPO
    from neacovid.publish.provenance import provenance as collect

    record = collect([json.loads(Path(a).read_text()) for a in audits], config, REPO,
                     references)
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
) -> None:
    """Every report figure of one language (SVG + PNG) and its manifest."""
    from neacovid.publish.figures import build_figures, read_table, save_figure, write_manifest

    by_location = pd.concat([read_table(p) for p in location_tables], ignore_index=True)
    by_age_group = pd.concat([read_table(p) for p in age_group_tables], ignore_index=True)
    indicators = list(dict.fromkeys(by_location["indicator"]))
    made = build_figures(
        read_table(location_table), by_location, by_age_group, read_table(key_figures),
        language, data_source, str(reference_wave), highlight_age_group, indicators,
        {
            "location": [Path(location_table).name],
            "by_location": [Path(p).name for p in location_tables],
            "by_age_group": [Path(p).name for p in age_group_tables],
            "key_figures": [Path(key_figures).name],
            "changes": [Path(changes).name],
        },
        changes=read_table(changes),
    )
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
    test: str,
    models: Sequence[str],
    provenance: str,
    template_dir: str,
    language: str,
    config: Mapping,
    output: str,
) -> None:
    """The tables annex of one language: every published table in one workbook."""
    from neacovid.publish.spreadsheet import AnnexInputs, write_workbook

    inputs = AnnexInputs(
        estimate_tables=[Path(p) for p in estimate_tables], key_figures=Path(key_figures),
        changes=[Path(p) for p in changes], contrasts=Path(contrasts), test=Path(test),
        models=[Path(p) for p in models], provenance=Path(provenance),
    )
    with atomic_path(output) as tmp:
        sheets = write_workbook(tmp, inputs, config, language, template_dir)
    log.info("tables annex (%s): %s, %d tables", language, output, len(sheets))


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
        results=Path(results_dir), template_dir=Path(template_dir), config=config,
        figures_manifest=Path(figures_manifest),
        # The tables annex, linked from the page by a path relative to it.
        workbook=None if workbook is None else Path(
            os.path.relpath(workbook, Path(output).parent)).as_posix(),
    )
    html = render_report(inputs, language)
    with atomic_path(output) as tmp:
        tmp.write_text(html, encoding="utf-8")
    log.info("report (%s): %s, %d bytes", language, output, len(html.encode("utf-8")))


# -- helpers ------------------------------------------------------------------


def write_json(obj, target: str | os.PathLike) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
