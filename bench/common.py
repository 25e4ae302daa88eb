"""Helpers shared by the benchmarks that time neacovid against R survey.

bench/estimate.py, bench/compare.py and bench/models.py each write a data set
to CSV, run an R script on it with ``Rscript`` (which prints ``key=value``
lines: versions, reader, elapsed seconds), time neacovid on the same data and
print a Markdown report. The common parts live here.

The scripts are run as ``python bench/<name>.py``, which puts this directory on
``sys.path``: they import this module as ``common``.
"""

from __future__ import annotations

import gc
import os
import platform
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
import pandas as pd

T = TypeVar("T")


def log(msg: str) -> None:
    # Progress goes to stderr so that stdout is only the copy-paste Markdown.
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- R


class RTimeout(Exception):
    """Rscript ran longer than its timeout and was stopped."""


def write_csv(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` (without its index) for R to read."""
    # pyarrow writes shortest round-trip floats: R reads exactly the same numbers.
    import pyarrow as pa
    from pyarrow import csv

    csv.write_csv(pa.Table.from_pandas(frame, preserve_index=False), path)


def run_rscript(
    script: Path,
    *args: str | Path,
    timeout: float | None = None,
    cleanup: Path | None = None,
) -> dict[str, str]:
    """Run ``Rscript script *args`` and return the ``key=value`` lines it printed.

    R runs in its own session: on timeout its whole process group is ended, not
    just Rscript, and `RTimeout` is raised. ``cleanup`` (the data CSV) is
    deleted once R has finished or been stopped. A non-zero exit raises
    RuntimeError with R's stderr.
    """
    proc = subprocess.Popen(
        ["Rscript", str(script), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise RTimeout from None
    finally:
        if cleanup is not None:
            cleanup.unlink(missing_ok=True)
    if proc.returncode != 0:
        raise RuntimeError(f"Rscript failed ({proc.returncode}):\n{stderr}")
    return dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)


def r_versions(info: dict[str, str]) -> str:
    """R, survey and CSV reader versions from the ``key=value`` lines of a run."""
    return (
        f"{info.get('r_version', 'R')}, survey {info.get('survey_version', '?')}, "
        f"read with {info.get('reader', '?')}"
    )


def machine() -> str:
    return f"{os.cpu_count()} cores, {platform.machine()}"


def versions_line(parts: list[str], r_info: dict[str, str]) -> str:
    """``parts`` (Python side), then R's versions if R ran, then the machine."""
    if r_info:
        parts = [*parts, r_versions(r_info)]
    return ", ".join(parts) + f"; {machine()}"


# --------------------------------------------------------------------------- neacovid


@dataclass(frozen=True)
class Timing:
    wall: float  # best wall-clock seconds
    cpu: float  # best CPU seconds of this process (user + system)


def best_of(run: Callable[[], T], repeats: int = 3) -> tuple[Timing, T]:
    """Best of ``repeats`` calls of ``run`` after one warm-up (imports, caches).

    CPU time is kept beside wall time: on a shared 2-core machine another busy
    process can stretch the wall clock of one run, not its CPU time. Returns the
    result of the last call.
    """
    result = run()
    walls, cpus = [], []
    for _ in range(repeats):
        gc.collect()  # a collection triggered mid-call would be noise, not our cost
        cpu = time.process_time()
        start = time.perf_counter()
        result = run()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return Timing(min(walls), min(cpus)), result


# --------------------------------------------------------------------------- report


def fmt_s(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds:.3f}" if seconds < 10 else f"{seconds:.1f}"


def fmt_rows(n: int) -> str:
    """``1e6`` for a power of ten, else ``123,456``."""
    return f"1e{round(np.log10(n))}" if n == 10 ** round(np.log10(n)) else f"{n:,}"
