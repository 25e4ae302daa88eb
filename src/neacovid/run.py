"""`neacovid run`: check the inputs, then run the Snakemake workflow.

Everything that can be checked before a job starts is checked here (config
schema, waves, input paths, the codebook against every file's metadata), so
bad input stops the run before anything is written. If a job still fails, the
one-line error it logged is shown instead of Snakemake's job report.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from filelock import FileLock, Timeout

from neacovid.data.config import (
    DEFAULT_CONFIG,
    REPO,
    check_waves,
    input_waves,
    load_config,
)
from neacovid.data.indicators import DERIVED
from neacovid.errors import ConfigError, NeaCovidError

ERROR_PREFIX = "neacovid: error: "


def preflight(config: dict) -> None:
    """Raise a `NeaCovidError` for input problems found without reading data."""
    from neacovid.data.codebook import load_codebook
    from neacovid.data.harmonize import check_file

    data = config["data"]
    check_waves(config)
    check_wave_references(config)
    codebook = load_codebook(data["codebook"])
    for wave in input_waves(config):
        codebook.wave(wave)  # the codebook must map every wave
    check_table_variables(config, set(DERIVED) | set(codebook.schema))
    from neacovid.publish.notebooks import check_notebooks

    notebooks = config["notebooks"]
    check_notebooks(notebooks["names"], notebooks["parameters"], REPO / "notebooks")
    from neacovid.publish.spreadsheet import release_date

    release_date(config)  # a real calendar date, or null
    if data["source"] == "synthetic":
        return
    for wave in input_waves(config):
        check_file(data["files"][wave], wave, codebook)


def check_wave_references(config: dict) -> None:
    """Every setting that names a wave must name one the run analyses."""
    waves = [str(w) for w in config["data"]["waves"]]
    named = {
        "report.focus_wave": config["report"]["focus_wave"],
        "compare.base": config["compare"]["base"],
        "figures.reference_wave": config["figures"]["reference_wave"],
    }
    reference = config["models"]["references"].get("wave")
    if reference is not None and "wave" in config["models"]["covariates"]:
        named["models.references.wave"] = reference
    for key, wave in named.items():
        if str(wave) not in waves:
            raise ConfigError(
                f"config {key}: wave {wave!r} is not among data.waves "
                f"({', '.join(waves)}); set it to one of them"
            )


def check_table_variables(config: dict, known: set[str]) -> None:
    """Every indicator and breakdown the tables ask for must exist after `derive`."""
    tables = config["tables"]
    for key in ("shares", "means", "breakdowns"):
        for name in tables[key]:
            if name not in known:
                raise ConfigError(
                    f"config tables.{key}: unknown indicator {name!r}; use one of "
                    f"{', '.join(sorted(DERIVED))} or a codebook schema variable"
                )


def run_workflow(
    configfiles: Sequence[str] = (),
    cores: int = 2,
    snakemake_args: Sequence[str] = (),
    verbose: bool = False,
) -> int:
    """Check the inputs, run Snakemake, print where the report is. Returns exit status."""
    try:
        config = load_config(*configfiles)
        preflight(config)
    except NeaCovidError as err:
        print(f"neacovid run: error: {err}", file=sys.stderr)
        return 2

    results = Path(config["results_dir"])
    log_dir = results / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    snakemake_log = log_dir / "snakemake.log"
    # One run per results directory, by a lock the OS releases when the
    # process dies (even by SIGKILL); Snakemake's own lock files would
    # survive a killed run and block the next one, so it runs --nolock.
    run_lock = FileLock(results / ".neacovid-run.lock")
    try:
        run_lock.acquire(timeout=0)  # held until this process ends
    except Timeout:
        print(
            f"neacovid run: error: another run is writing to {results}; wait for it to end "
            "or set another results_dir",
            file=sys.stderr,
        )
        return 2
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--snakefile",
        str(REPO / "Snakefile"),
        "--cores",
        str(cores),
        "--rerun-incomplete",
        "--nolock",
        *[arg for path in configfiles for arg in ("--configfile", str(path))],
        *snakemake_args,
    ]
    print(f"neacovid run: running the workflow (log: {snakemake_log})", flush=True)
    started = time.time()
    with open(snakemake_log, "w", encoding="utf-8") as log:
        done = subprocess.run(
            command,
            stdout=None if verbose else log,
            stderr=subprocess.STDOUT if not verbose else None,
            check=False,
        )
    if done.returncode != 0:
        errors = job_errors(log_dir, since=started)
        if errors:
            # One line: the first job's error; later jobs often fail for the same cause.
            more = f" (and {len(errors) - 1} more in {log_dir})" if len(errors) > 1 else ""
            print(f"neacovid run: error: {errors[0]}{more}", file=sys.stderr)
            return 2
        print(f"neacovid run: the workflow failed; see {snakemake_log}", file=sys.stderr)
        return 1
    for language in config["report"]["languages"]:
        print(f"Report ({language}): {(results / 'report' / language / 'index.html').resolve()}")
    return 0


def job_errors(log_dir: Path, since: float = 0.0) -> list[str]:
    """The one-line errors that jobs of this run wrote to their logs, first first."""
    lines = []
    logs = [p for p in log_dir.rglob("*.log") if p.stat().st_mtime >= since]
    for path in sorted(logs, key=lambda p: (p.stat().st_mtime, str(p))):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith(ERROR_PREFIX):
                lines.append(line[len(ERROR_PREFIX) :])
    return list(dict.fromkeys(lines))


__all__ = ["DEFAULT_CONFIG", "job_errors", "preflight", "run_workflow"]
