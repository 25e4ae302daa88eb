"""`neacovid run`: check the inputs, then run the Snakemake workflow.

Everything that can be checked before a job starts is checked here (config
schema, waves, input paths, the codebook against every file's metadata), so
bad input stops the run before anything is written. If a job still fails, the
one-line error it logged is shown instead of Snakemake's job report.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from neacovid.data.config import (
    DEFAULT_CONFIG,
    REPO,
    check_paths,
    check_waves,
    input_waves,
    load_config,
)
from neacovid.data.indicators import BASELINE_COLUMNS, DERIVED, baseline_name
from neacovid.errors import MESSAGE_LIMIT, ConfigError, NeaCovidError, printable

ERROR_PREFIX = "neacovid: error: "


def preflight(config: dict) -> None:
    """Raise a `NeaCovidError` for input problems found without reading data."""
    from neacovid.data.codebook import load_codebook
    from neacovid.data.harmonize import check_file

    data = config["data"]
    check_waves(config)
    check_paths(config)
    check_wave_references(config)
    codebook = load_codebook(data["codebook"])
    for wave in input_waves(config):
        codebook.wave(wave)  # the codebook must map every wave
    known = set(DERIVED) | set(codebook.schema)
    baseline = data.get("baseline")
    if baseline is not None:
        known |= {baseline_name(c, baseline) for c in BASELINE_COLUMNS}
    check_table_variables(config, known)
    from neacovid.publish.parameters import check_notebooks

    notebooks = config["notebooks"]
    check_notebooks(notebooks["names"], notebooks["parameters"], REPO / "notebooks")
    from neacovid.data.indicators import resolve_spec
    from neacovid.publish.disclosure import DisclosureRules
    from neacovid.survey.design import Design

    resolve_spec(config["indicators"])
    DisclosureRules.from_config(config["disclosure"])
    design = Design.from_mapping(config["design"])
    from neacovid.publish.spreadsheet import release_date

    release_date(config)  # a real calendar date, or null
    if data["source"] == "synthetic":
        return
    for wave in input_waves(config):
        check_file(data["files"][wave], wave, codebook)
    check_data(config, codebook, design)


def check_data(config: dict, codebook, design) -> None:
    """Read every file as the workflow will, in memory, and bind the design: whatever
    the data can violate (weights, ids, codes, a wave without respondents, a lonely
    PSU, a missing calibration cell) stops the run before anything is written."""
    from neacovid.data.harmonize import harmonize_wave
    from neacovid.data.indicators import analysis_data
    from neacovid.errors import DataError

    data = config["data"]
    frames = {}
    for wave in input_waves(config):
        path = data["files"][wave]
        frame, audit = harmonize_wave(path, wave, codebook, strict=data["strict"])
        if audit["rows_kept"] < 2:
            low, high = codebook.age_range
            raise DataError(
                f"{path} (wave {wave}): {audit['rows_kept']} respondent(s) in the population "
                f"(aged {low:g}-{high:g}, with a weight) of {audit['rows_read']} rows; a wave "
                "needs at least two: check the file and its age variable"
            )
        frames[wave] = frame
    waves = [str(w) for w in data["waves"]]
    baseline = data.get("baseline")
    analysis, _ = analysis_data(
        [frames[w] for w in waves],
        config["indicators"],
        baseline,
        frames.get(str(baseline)) if baseline else None,
    )
    design.bind(analysis)


def check_wave_references(config: dict) -> None:
    """Every setting that names a wave must name one the run analyses."""
    waves = [str(w) for w in config["data"]["waves"]]
    named = {
        "report.focus_wave": config["report"]["focus_wave"],
        "compare.base": config["compare"]["base"],
        "figures.reference_wave": config["figures"]["reference_wave"],
    }
    reference = config["models"]["references"].get("wave")
    if reference is not None and not config["models"]["by_wave"]:
        named["models.references.wave"] = reference
    for key, wave in named.items():
        if str(wave) not in waves:
            raise ConfigError(
                f"config {key}: wave {wave!r} is not among data.waves "
                f"({', '.join(waves)}); set it to one of them"
            )


def check_table_variables(config: dict, known: set[str]) -> None:
    """Every indicator and breakdown the tables ask for must exist after `derive` (or
    carry a baseline wave's value: ``location_2019``)."""
    named = [(f"tables.{key}", config["tables"][key]) for key in ("shares", "means", "breakdowns")]
    named += [
        ("compare.indicators", config["compare"]["indicators"]),
        ("compare.breakdowns", config["compare"]["breakdowns"]),
        ("models.indicators", config["models"]["indicators"]),
        ("models.effects", config["models"]["effects"]),
        ("models.adjust", config["models"]["adjust"]),
        ("attrition.breakdowns", config["attrition"]["breakdowns"]),
        ("attrition.outcomes", config["attrition"]["outcomes"]),
        ("attrition.indicators", config["attrition"]["indicators"]),
    ]
    named += [
        (f"compare.did.{spec['name']}", [spec["group"], *spec["by"]])
        for spec in config["compare"]["did"]
    ]
    for key, names in named:
        for name in names:
            if name not in known:
                raise ConfigError(
                    f"config {key}: unknown column {name!r}; use an indicator "
                    f"({', '.join(sorted(DERIVED))}), a codebook schema variable or a "
                    "baseline column such as location_2019"
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
        print(f"neacovid run: error: {printable(err, limit=MESSAGE_LIMIT)}", file=sys.stderr)
        return 2

    results = Path(config["results_dir"])
    log_dir = results / "logs"
    log_dir.mkdir(parents=True, exist_ok=True)
    snakemake_log = log_dir / "snakemake.log"
    # One run per results directory, by a lock the OS releases when its last
    # holder dies (even by SIGKILL). Snakemake inherits the lock, so a run
    # whose `neacovid` was killed still holds it while its Snakemake works;
    # Snakemake's own lock files would survive a killed run, so it runs --nolock.
    lock_fd = acquire_run_lock(results / ".neacovid-run.lock")
    if lock_fd is None:
        print(
            f"neacovid run: error: another run is writing to {printable(results)}; wait for it "
            "to end or set another results_dir",
            file=sys.stderr,
        )
        return 2
    removed = remove_stale_temporaries(results)
    # Snakemake gets the one config that was checked: the merge of config.yaml and
    # every --configfile, in order, written once the checks passed.
    merged = results / ".neacovid" / "config.yaml"
    write_config(config, merged)
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
        "--configfile",
        str(merged),
        *snakemake_args,
    ]
    print(f"neacovid run: running the workflow (log: {snakemake_log})", flush=True)
    if removed:
        print(
            f"neacovid run: removed {removed} half-written file(s) of an interrupted run",
            flush=True,
        )
    started = time.time()
    with open(snakemake_log, "w", encoding="utf-8") as log:
        done = run_child(
            command,
            stdout=None if verbose else log,
            stderr=None if verbose else subprocess.STDOUT,
            keep_fds=(lock_fd,),
        )
    if done.returncode != 0:
        errors = job_errors(log_dir, since=started)
        if errors:
            # One line: the first job's error; later jobs often fail for the same cause.
            more = f" (and {len(errors) - 1} more in {log_dir})" if len(errors) > 1 else ""
            message = printable(errors[0], limit=MESSAGE_LIMIT)
            print(f"neacovid run: error: {message}{more}", file=sys.stderr)
            return 2
        print(f"neacovid run: the workflow failed; see {snakemake_log}", file=sys.stderr)
        return 1
    for line in data_quality_lines(results, input_waves(config)):
        print(f"neacovid run: {line}")
    for language in config["report"]["languages"]:
        print(f"Report ({language}): {(results / 'report' / language / 'index.html').resolve()}")
    return 0


def data_quality_lines(results: Path, waves: Sequence[str]) -> list[str]:
    """One line per wave with values set missing because they were impossible (out of
    range) or not in the codebook, with counts per variable and the audit to read."""
    import json

    lines = []
    for wave in waves:
        path = results / "harmonized" / f"{wave}.audit.json"
        if not path.is_file():
            continue
        audit = json.loads(path.read_text(encoding="utf-8"))
        for key, what in (
            ("out_of_range", "out of range"),
            ("unmapped_codes", "not in the codebook"),
        ):
            found = audit.get(key) or {}
            total = sum(sum(counts.values()) for counts in found.values())
            if total:
                detail = "; ".join(
                    f"{printable(variable)}: "
                    + ", ".join(f"{printable(code)} ({n})" for code, n in counts.items())
                    for variable, counts in found.items()
                )
                lines.append(f"{wave}: {total} value(s) {what}, set missing ({detail}); see {path}")
    return lines


def write_config(config: dict, target: Path) -> None:
    import yaml

    from neacovid.data.io import atomic_path

    with atomic_path(target) as tmp:
        tmp.write_text(
            yaml.safe_dump(config, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )


def remove_stale_temporaries(results: Path) -> int:
    """Remove the temporary files (``.<name>.*.tmp``, `neacovid.data.io.atomic_path`)
    that a killed run left behind; under the run lock, nobody is writing them."""
    removed = 0
    for path in results.rglob(".*.tmp"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def acquire_run_lock(path: Path) -> int | None:
    """An exclusive lock on ``path``, held while the returned descriptor is open in this
    process or a child that inherited it; None if another run holds it. The OS drops
    it when the last holder ends, also by SIGKILL. (The platform's lock module is
    imported here, not at module level: neacovid imports on Windows too.)"""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if os.name == "posix":
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        else:
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
    except OSError:
        os.close(fd)
        return None
    return fd


def run_child(command: Sequence[str], keep_fds: tuple[int, ...] = (), **kwargs):
    """Run ``command`` so that it ends when we do.

    POSIX: the child gets its own process group, which we end on SIGINT/SIGTERM,
    and (Linux) the kernel sends it SIGTERM when this process dies, also by
    SIGKILL, so a killed `neacovid` leaves no Snakemake running. ``keep_fds`` are
    inherited (the run lock). Windows: a plain child process.
    """
    import signal

    if os.name != "posix":
        return subprocess.run(command, check=False, **kwargs)

    def at_start() -> None:  # in the child, before exec
        try:
            import ctypes

            libc = ctypes.CDLL("libc.so.6", use_errno=True)
            libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass  # not Linux: the signal handlers below still stop the group

    child = subprocess.Popen(
        command, start_new_session=True, preexec_fn=at_start, pass_fds=keep_fds, **kwargs
    )

    def stop(signum, frame):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
        raise SystemExit(128 + signum)

    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        child.wait()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    return subprocess.CompletedProcess(command, child.returncode)


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
