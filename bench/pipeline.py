"""Time `make report`'s workflow: from an empty results/ and a second run.

Goals (issue 13): at most 30 s from an empty results/ on a 2-core machine with
.venv in place, at most 3 s for a second run with nothing changed, and the same
outputs byte for byte (every file of results/ but the logs and Snakemake's own
records). Runs in a temporary results directory so the user's results/ is left
alone.

    .venv/bin/python bench/pipeline.py [--scale 1.0]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]


def timed_run(config: Path) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "neacovid.cli", "run", "--configfile", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"workflow failed:\n{done.stderr}")
    return elapsed


def fingerprints(results: Path) -> dict[str, str]:
    """SHA-256 of every output file (not logs, not the run's own bookkeeping)."""
    import hashlib

    skip = ("logs", ".neacovid", ".snakemake")
    return {
        str(path.relative_to(results)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(results.rglob("*"))
        if path.is_file() and path.relative_to(results).parts[0] not in skip
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scale", type=float, default=1.0, help="synthetic data scale")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="neacovid-bench-"))
    try:
        config = tmp / "config.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "results_dir": str(tmp / "results"),
                    "data": {"synthetic_dir": str(tmp / "synthetic"), "scale": args.scale},
                }
            )
        )
        fresh = timed_run(config)  # synthetic data and results from nothing
        first = fingerprints(tmp / "results")
        shutil.rmtree(tmp / "results")
        empty_results = timed_run(config)  # the .sav files exist, results/ is empty
        same = fingerprints(tmp / "results") == first
        second = timed_run(config)  # nothing changed
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    rows = [
        ("everything from scratch (synthetic .sav files too)", fresh, None),
        ("from an empty results/", empty_results, 30.0),
        ("second run, nothing changed", second, 3.0),
    ]
    lines = [
        f"Workflow (`neacovid run`, as `make report`), synthetic data at scale {args.scale}, "
        "2 cores:",
        "",
        "| run | seconds | goal |",
        "|---|---:|---:|",
    ]
    for name, seconds, goal in rows:
        verdict = (
            "" if goal is None else f"<= {goal:.0f} s " + ("met" if seconds <= goal else "MISSED")
        )
        lines.append(f"| {name} | {seconds:.1f} | {verdict} |")
    lines.append("")
    lines.append(
        f"Outputs of the two runs from an empty results/ byte for byte equal: "
        f"{'yes' if same else 'NO'} ({len(first)} files)."
    )
    text = "\n".join(lines)
    print(text)
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "pipeline.md").write_text(text + "\n")


if __name__ == "__main__":
    main()
