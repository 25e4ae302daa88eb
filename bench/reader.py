"""What reading SPSS files in a child process costs (neacovid.data.spss).

Times, per call, pyreadstat in this process (what neacovid did before) against
neacovid.data.spss (the read in a forked child of the reader server, or in a
fresh Python where the OS cannot fork), for a synthetic COVID-19 wave of about
10,000 rows: a metadata read (which also reads the last row, to catch a file
truncated after its header), a read of the codebook's columns (what
harmonisation reads) and a read of every column. Prints a Markdown table.

    python bench/reader.py [--rows 10000] [--repeat 20]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyreadstat

from neacovid.data import spss
from neacovid.data.codebook import load_codebook
from neacovid.data.synth import write_waves

REPO = Path(__file__).resolve().parents[1]
WAVE = "2021-11"
WAVE_RESPONDENTS = 8100  # waves.csv: the respondents of wave 2021-11 at scale 1


def per_call(function, repeat: int) -> float:
    """Median seconds of ``repeat`` calls, after one call that warms up."""
    function()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = write_waves(tmp, scale=args.rows / WAVE_RESPONDENTS)[WAVE]
        columns = load_codebook(REPO / "workflow/codebook/nea_covid.yaml").wave(WAVE)
        columns = columns.file_variables
        start = time.perf_counter()
        spss.read_metadata(path)
        first = time.perf_counter() - start
        meta = spss.read_metadata(path)
        cases = {
            "metadata": (
                lambda: pyreadstat.read_sav(str(path), metadataonly=True, user_missing=True),
                lambda: spss.read_metadata(path),
            ),
            "codebook columns": (
                lambda: pyreadstat.read_sav(str(path), usecols=columns, user_missing=True),
                lambda: spss.read_data(path, columns=columns),
            ),
            "all columns": (
                lambda: pyreadstat.read_sav(str(path), user_missing=True),
                lambda: spss.read_data(path),
            ),
        }
        mode = "fork server" if spss._FORK else "fresh Python per read"
        print(
            f"SPSS reads of a {meta.rows:,}-row, {len(meta.columns)}-variable wave "
            f"({path.stat().st_size / 1e6:.1f} MB), median of {args.repeat}; "
            f"neacovid.data.spss: {mode}; first read of a process (starts the "
            f"server): {first * 1000:.0f} ms\n"
        )
        print("| read | pyreadstat in process (ms) | neacovid.data.spss (ms) | overhead (ms) |")
        print("| --- | ---: | ---: | ---: |")
        for name, (direct, isolated) in cases.items():
            before = per_call(direct, args.repeat) * 1000
            after = per_call(isolated, args.repeat) * 1000
            print(f"| {name} | {before:.1f} | {after:.1f} | {after - before:+.1f} |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
