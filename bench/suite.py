"""Time the test suite as `make test` runs it (every core, pytest-xdist).

Goal (issue 13): at most 180 s on this 2-core machine. Writes bench/out/suite.md.

    .venv/bin/python bench/suite.py [--cores 2]
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GOAL_SECONDS = 180.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    start = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-n",
            str(args.cores),
            "--dist",
            "loadgroup",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - start
    summary = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    passed = re.search(r"(\d+) passed", summary)
    verdict = "met" if seconds <= GOAL_SECONDS and done.returncode == 0 else "MISSED"
    text = "\n".join(
        [
            f"Test suite (`make test`: pytest -n {args.cores} --dist loadgroup), "
            f"{args.cores} cores:",
            "",
            "| tests | seconds | goal |",
            "|---:|---:|---:|",
            f"| {passed[1] if passed else '?'} | {seconds:.0f} "
            f"| <= {GOAL_SECONDS:.0f} s {verdict} |",
            "",
            f"pytest: {summary}",
        ]
    )
    print(text)
    out = REPO / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "suite.md").write_text(text + "\n")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
