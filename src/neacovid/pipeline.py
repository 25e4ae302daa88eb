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

from neacovid.design import Design
from neacovid.errors import DataError, NeaCovidError
from neacovid.io import atomic_path, write_csv

log = logging.getLogger("neacovid")

EXIT_USER_ERROR = 2

# Every wave is a separate stratified sample: its sampling strata are the
# sectors within that wave. The analysis file carries that combination.
WAVE_STRATUM = "wave_stratum"


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
    from neacovid.synth import write_waves

    paths = write_waves(out_dir, seed=seed, scale=scale, waves_csv=waves_csv)
    for wave, path in paths.items():
        log.info("wrote %s (wave %s)", path, wave)


def harmonize(
    data_file: str, wave: str, codebook: str, strict: bool, parquet: str, audit: str
) -> None:
    from neacovid.codebook import load_codebook
    from neacovid.harmonize import harmonize_wave

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


def indicators(harmonized: Sequence[str], spec: Mapping, output: str) -> None:
    from neacovid.indicators import derive

    stacked = pd.concat([pd.read_parquet(p) for p in harmonized], ignore_index=True)
    analysis = derive(stacked, spec)
    analysis[WAVE_STRATUM] = analysis["wave"].astype(str) + "/" + analysis["stratum"].astype(str)
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
    from neacovid.disclosure import DisclosureRules, apply_rules
    from neacovid.tables import estimate_tables, table_specs

    data = pd.read_parquet(analysis)
    specs = table_specs(share_indicators, mean_indicators, breakdowns, {"home_any": "location"})
    wanted = {Path(p).stem: p for p in outputs}
    missing = sorted(set(wanted) - {s.name for s in specs})
    if missing:
        raise DataError(f"no table definition for {missing[0]}; check config.yaml tables")
    specs = [s for s in specs if s.name in wanted]
    rules = DisclosureRules.from_config(disclosure)
    estimated = estimate_tables(data, design_from_config(design), specs, ci, level)
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
    output: str,
) -> None:
    from neacovid.disclosure import DisclosureRules, apply_rules
    from neacovid.keyfigures import key_figures as compute

    data = pd.read_parquet(analysis)
    figures = pd.read_csv(published, dtype={"wave": str, "category": str})
    table = compute(data, design_from_config(design), figures, populations, ci, level)
    table = apply_rules(table, DisclosureRules.from_config(disclosure), ["wave", "population"])
    table["within_ci"] = table["within_ci"].where(table["status"] != "suppressed")
    write_csv(table, output)
    agree = int(table["within_ci"].sum())
    log.info("key figures: %d of %d published figures inside this run's CI", agree, len(table))


def output_check(tables: Sequence[str], output: str) -> None:
    from neacovid.disclosure import output_check as collect

    frames = {Path(p).stem: pd.read_csv(p, dtype=str, keep_default_na=False) for p in tables}
    check = collect(frames)
    write_csv(check, output)
    log.info("output check: %d suppressed, %d indicative cells",
             (check["status"] == "suppressed").sum(), (check["status"] == "indicative").sum())


def provenance(audits: Sequence[str], config: Mapping, output: str) -> None:
    from neacovid.config import REPO
    from neacovid.provenance import provenance as collect

    record = collect([json.loads(Path(a).read_text()) for a in audits], config, REPO)
    write_json(record, output)
    log.info("provenance: %d input files, git %s", len(record["inputs"]), record["git"])


def report(
    key_figures_csv: str,
    audits: Sequence[str],
    template_dir: str,
    language: str,
    data_source: str,
    config: Mapping,
    output: str,
) -> None:
    from neacovid.report import render_report

    html = render_report(
        key_figures=pd.read_csv(key_figures_csv, dtype={"wave": str, "category": str}),
        audits=[json.loads(Path(a).read_text()) for a in audits],
        template_dir=template_dir,
        language=language,
        data_source=data_source,
        config=config,
    )
    with atomic_path(output) as tmp:
        tmp.write_text(html, encoding="utf-8")


# -- helpers ------------------------------------------------------------------


def design_from_config(spec: Mapping) -> Design:
    return Design(
        weight=spec["weight"],
        strata=spec.get("strata"),
        psu=spec.get("psu"),
        fpc=spec.get("fpc"),
        lonely_psu=spec.get("lonely_psu", "fail"),
    )


def write_json(obj, target: str | os.PathLike) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")
