"""Benchmark `neacovid.survey.estimate.shares` against R survey and the `svy` package.

One deterministic synthetic sample (40 strata, wave x age = 30 domains, binary
outcome ``y``) is estimated three ways, the numbers are checked against each
other and the timings are printed as a Markdown table (also written to
``bench/out/estimate.md``):

* neacovid: ``shares(df, Design(...), "y", by=["wave", "age"], ci="logit")``,
  best of 3 after one warm-up, *including* binding the design to the data;
* R survey: ``svydesign()`` + ``svyby(~y, ~wave+age, des, svyciprop,
  method="logit")`` in ``Rscript`` (bench/estimate_r.R), timed inside R with
  ``system.time``; reading the CSV is *not* timed;
* svy: ``Sample(frame, Design(...)).estimation.prop("y", by=[...])``; the
  pandas -> polars conversion is *not* timed, building the ``Sample`` is.

It also times neacovid alone at 1e5, 1e6 and 1e7 rows (growth should be
linear), a stratified-cluster design, and the peak memory of one call.

Usage: python bench/estimate.py [--quick] [--no-r] [--no-svy]
"""

from __future__ import annotations

import argparse
import gc
import platform
import shutil
import sys
import tempfile
import time
import tracemalloc
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd
from common import (
    RTimeout,
    Timing,
    best_of,
    fmt_rows,
    fmt_s,
    log,
    run_rscript,
    versions_line,
    write_csv,
)
from scipy import special

import neacovid
from neacovid.survey.design import Design
from neacovid.survey.estimate import shares

SEED = 20200316  # fixed: every run (and R, svy) sees exactly the same data
N_STRATA = 40
N_WAVES = 6
N_AGES = 5
BY = ["wave", "age"]
QUANTITIES = ["estimate", "se", "ci_low", "ci_high"]
TOLERANCE = 1e-8  # the implementations compute the same formulas: only rounding may differ
R_TIMEOUT = 180  # seconds; a slower R cluster run falls back to 1e5 rows
SPEED_GOAL = 30  # times faster than R survey and svy
MEMORY_GOAL = 3  # peak memory at most this multiple of the columns used

BENCH_DIR = Path(__file__).resolve().parent
R_SCRIPT = BENCH_DIR / "estimate_r.R"
OUT_FILE = BENCH_DIR / "out" / "estimate.md"


@dataclass(frozen=True)
class Case:
    """A design to benchmark: the neacovid design and the same one for R and svy."""

    name: str
    design: Design
    r_kind: str  # argument of estimate_r.R

    @property
    def columns(self) -> list[str]:
        return [*self.design.columns, *BY, "y"]


STRATIFIED = Case("stratified", Design("w", strata="stratum"), "strat")
CLUSTER = Case("stratified-cluster", Design("w", strata="stratum", psu="psu"), "cluster")
# The NEA way: each wave's weights calibrated on sector (here the strata) and sex.
CALIBRATION = ("wave:stratum", "wave:sex")
CALIBRATION_GOAL = 2  # a calibrated estimate costs at most this multiple of the plain one


# --------------------------------------------------------------------------- data


def make_data(n: int, seed: int = SEED) -> pd.DataFrame:
    """A synthetic person sample of ``n`` rows, reproducible from the seed.

    Columns (int64 unless said): ``stratum`` 0..39 (integers, unequal sizes),
    ``psu`` 10-50 PSUs per stratum with ids unique across strata, ``wave`` 0..5,
    ``age`` 0..4, ``w`` float64 weights (vary between and within strata), ``y`` 0/1
    with a rate that varies by wave, age, stratum and PSU (so that clustering
    matters for the variance). Rows are in random order, as in real files.
    """
    rng = np.random.default_rng(seed)
    stratum_share = rng.dirichlet(np.full(N_STRATA, 4.0))
    stratum = rng.choice(N_STRATA, size=n, p=stratum_share)

    psus_per_stratum = rng.integers(10, 51, size=N_STRATA)
    psu_offset = np.concatenate([[0], np.cumsum(psus_per_stratum)[:-1]])
    local_psu = (rng.random(n) * psus_per_stratum[stratum]).astype(np.int64)
    psu = psu_offset[stratum] + local_psu

    wave = rng.integers(0, N_WAVES, size=n)
    age = rng.integers(0, N_AGES, size=n)

    base_weight = rng.uniform(50, 500, size=N_STRATA)
    w = base_weight[stratum] * rng.lognormal(0.0, 0.5, size=n)

    stratum_effect = rng.normal(0, 0.3, size=N_STRATA)
    psu_effect = rng.normal(0, 0.4, size=int(psus_per_stratum.sum()))
    logit = -1.0 + 0.3 * wave - 0.25 * age + stratum_effect[stratum] + psu_effect[psu]
    y = (rng.random(n) < special.expit(logit)).astype(np.int64)
    sex = rng.integers(0, 2, size=n)  # drawn last: the columns above do not change

    return pd.DataFrame(
        {"stratum": stratum, "psu": psu, "wave": wave, "age": age, "w": w, "y": y, "sex": sex}
    )


def column_bytes(df: pd.DataFrame, case: Case) -> int:
    return int(df[case.columns].memory_usage(deep=True).sum())


# --------------------------------------------------------------------------- neacovid


def run_neacovid(df: pd.DataFrame, case: Case) -> pd.DataFrame:
    # A Design, not a bound design: binding is part of what a user pays per call.
    return shares(df, case.design, "y", by=BY, ci="logit")


def time_neacovid(df: pd.DataFrame, case: Case, repeats: int = 3) -> tuple[Timing, pd.DataFrame]:
    """Best of ``repeats`` times after one warm-up (see `common.best_of`)."""
    return best_of(lambda: run_neacovid(df, case), repeats)


def peak_memory(df: pd.DataFrame, case: Case) -> int:
    """Peak bytes allocated during one call, as seen by tracemalloc.

    numpy and pandas' hash tables register their buffers with tracemalloc, so
    the peak covers the arrays the estimator creates. Tracing starts right
    before the call: the data frame itself is not counted.
    """
    gc.collect()
    tracemalloc.start()
    try:
        run_neacovid(df, case)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak


def ours_for_comparison(result: pd.DataFrame) -> pd.DataFrame:
    # R's svyciprop and svy report the share of y == 1; neacovid has a row per category.
    ones = result[result["category"] == 1]
    return ones[BY + QUANTITIES].reset_index(drop=True)


# --------------------------------------------------------------------------- R


@dataclass
class RRun:
    seconds: float
    rows: int
    estimates: pd.DataFrame
    info: dict[str, str] = field(default_factory=dict)


def run_r(df: pd.DataFrame, case: Case, workdir: Path, timeout: float | None) -> RRun:
    data_csv = workdir / f"data_{case.r_kind}_{len(df)}.csv"
    out_csv = workdir / f"r_{case.r_kind}_{len(df)}.csv"
    write_csv(df[case.columns], data_csv)
    info = run_rscript(R_SCRIPT, data_csv, case.r_kind, out_csv, timeout=timeout, cleanup=data_csv)
    return RRun(
        seconds=float(info["elapsed"]),
        rows=int(info["rows"]),
        estimates=pd.read_csv(out_csv),
        info=info,
    )


# --------------------------------------------------------------------------- svy


def svy_version() -> str | None:
    try:
        import svy  # noqa: F401
    except ImportError:
        return None
    from importlib.metadata import version

    return version("svy")


def run_svy(frame, case: Case):
    import svy

    design = svy.Design(
        stratum=case.design.strata,
        psu=case.design.psu,
        wgt=case.design.weight,
    )
    # A fresh Sample every call: svy caches its design build per Sample, and the
    # bind is part of the work (as for neacovid).
    sample = svy.Sample(frame, design)
    return sample.estimation.prop("y", by=BY, ci_method="logit", alpha=0.05)


def time_svy(df: pd.DataFrame, case: Case) -> tuple[float, pd.DataFrame]:
    """Once if slow (> 2 s), else best of 3; a small warm-up loads svy's lazy imports."""
    import polars as pl

    frame = pl.from_pandas(df[case.columns])  # conversion not timed (like R's reading)
    run_svy(frame.head(2000), case)
    times = []
    for _ in range(3):
        gc.collect()
        start = time.perf_counter()
        estimate = run_svy(frame, case)
        times.append(time.perf_counter() - start)
        if times[0] > 2:
            break
    table = estimate.to_polars().filter(pl.col("y") == 1).to_pandas()
    table = table.rename(columns={"est": "estimate", "lci": "ci_low", "uci": "ci_high"})
    return min(times), table[BY + QUANTITIES]


# --------------------------------------------------------------------------- checks


def differences(ours: pd.DataFrame, theirs: pd.DataFrame) -> dict[str, float]:
    """Max absolute difference per quantity over the 30 domains (NaN: domains differ)."""
    merged = ours.merge(theirs, on=BY, how="outer", suffixes=("", "_other"), indicator=True)
    if len(merged) != len(ours) or (merged["_merge"] != "both").any():
        return {q: float("nan") for q in QUANTITIES}
    return {
        q: float(np.max(np.abs(merged[q].to_numpy() - merged[f"{q}_other"].to_numpy())))
        for q in QUANTITIES
    }


def check(label: str, diffs: dict[str, float], notes: list[str]) -> float:
    worst = max(diffs.values())
    detail = ", ".join(f"{q} {d:.1e}" for q, d in diffs.items())
    if not worst <= TOLERANCE:  # also catches NaN (domains that do not match)
        banner = (
            f"!!! MISMATCH: {label} differs from neacovid by more than {TOLERANCE:g} "
            f"(max abs diff: {detail}) !!!"
        )
        print(banner, file=sys.stderr, flush=True)
        notes.append(f"**{banner}**")
    else:
        notes.append(f"- {label}: agrees with neacovid (max abs diff: {detail})")
    return worst


# --------------------------------------------------------------------------- report


def fmt_ratio(other: float | None, ours: float) -> str:
    return "-" if other is None else f"{other / ours:.0f}x"


def fmt_diff(d: float | None) -> str:
    return "-" if d is None else f"{d:.1e}"


@dataclass
class Row:
    case: Case
    rows: int
    ours: float
    r: float | None = None
    svy: float | None = None
    r_diff: float | None = None
    svy_diff: float | None = None

    def markdown(self) -> str:
        cells = [
            self.case.name,
            fmt_rows(self.rows),
            fmt_s(self.ours),
            fmt_s(self.r),
            fmt_s(self.svy),
            fmt_ratio(self.r, self.ours),
            fmt_ratio(self.svy, self.ours),
            fmt_diff(self.r_diff),
            fmt_diff(self.svy_diff),
        ]
        return "| " + " | ".join(cells) + " |"


def compare_case(
    df: pd.DataFrame,
    case: Case,
    use_r: bool,
    use_svy: bool,
    workdir: Path,
    notes: list[str],
    r_timeout: float | None = None,
) -> tuple[Row, bool]:
    """neacovid, R and svy on one data set; returns the row and whether R timed out."""
    n = len(df)
    log(f"{case.name} {n:,} rows: neacovid")
    timing, result = time_neacovid(df, case)
    ours_s = timing.wall
    ours = ours_for_comparison(result)
    row = Row(case, n, ours_s)
    r_timed_out = False
    if use_r:
        log(f"{case.name} {n:,} rows: R survey (once; timeout {r_timeout or 'none'})")
        try:
            r = run_r(df, case, workdir, r_timeout)
        except RTimeout:
            r_timed_out = True
            notes.append(
                f"- R survey, {case.name}, {fmt_rows(n)} rows: stopped after {r_timeout} s"
            )
        else:
            row.r = r.seconds
            row.r_diff = check(
                f"R survey, {case.name}, {fmt_rows(n)} rows", differences(ours, r.estimates), notes
            )
    if use_svy:
        log(f"{case.name} {n:,} rows: svy")
        row.svy, table = time_svy(df, case)
        row.svy_diff = check(
            f"svy, {case.name}, {fmt_rows(n)} rows", differences(ours, table), notes
        )
    return row, r_timed_out


def versions(r_info: dict[str, str], svy_ver: str | None) -> str:
    import polars as pl

    parts = [
        f"Python {platform.python_version()}",
        f"neacovid {neacovid.__version__}" if hasattr(neacovid, "__version__") else "neacovid",
        f"numpy {np.__version__}",
        f"pandas {pd.__version__}",
    ]
    if svy_ver:
        parts.append(f"svy {svy_ver} (polars {pl.__version__})")
    return versions_line(parts, r_info)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1e5 rows only (smoke run)")
    parser.add_argument("--no-r", action="store_true", help="skip R survey")
    parser.add_argument("--no-svy", action="store_true", help="skip the svy package")
    args = parser.parse_args(argv)

    main_n = 100_000 if args.quick else 1_000_000
    scaling_sizes = [100_000] if args.quick else [100_000, 1_000_000, 10_000_000]
    notes: list[str] = []

    use_r = not args.no_r and shutil.which("Rscript") is not None
    if not args.no_r and not use_r:
        notes.append("- R survey: not installed")
    svy_ver = None if args.no_svy else svy_version()
    use_svy = svy_ver is not None
    if not args.no_svy and not use_svy:
        notes.append("- svy: not installed")

    rows: list[Row] = []
    r_info: dict[str, str] = {}
    data = {main_n: make_data(main_n)}
    with tempfile.TemporaryDirectory(prefix="neacovid-bench-") as tmp:
        workdir = Path(tmp)
        df = data[main_n]
        row, _ = compare_case(df, STRATIFIED, use_r, use_svy, workdir, notes)
        rows.append(row)
        if use_r:
            # Versions for the header, from a run that certainly finished.
            r_info = run_r(df.head(1000), STRATIFIED, workdir, None).info

        row, r_timed_out = compare_case(
            df, CLUSTER, use_r, use_svy, workdir, notes, r_timeout=R_TIMEOUT
        )
        rows.append(row)
        if r_timed_out and main_n > 100_000:
            # R is too slow here: compare all three at 1e5 instead, on the same data.
            small = data.setdefault(100_000, make_data(100_000))
            row, _ = compare_case(small, CLUSTER, use_r, use_svy, workdir, notes)
            notes.append(f"- R survey, {CLUSTER.name}: timed at 1e5 rows instead")
            rows.append(row)

    log("peak memory")
    memory_lines = []
    for case in (STRATIFIED, CLUSTER):
        peak = peak_memory(df, case)
        size = column_bytes(df, case)
        ok = "meets" if peak <= MEMORY_GOAL * size else "MISSES"
        memory_lines.append(
            f"- {case.name}, {fmt_rows(main_n)} rows: peak {peak / 2**20:.1f} MiB = "
            f"{peak / size:.2f}x the {size / 2**20:.1f} MiB of the columns used "
            f"({', '.join(case.columns)}) - {ok} the {MEMORY_GOAL}x goal"
        )

    log("calibration")
    calibration_lines = []
    for case in (STRATIFIED, CLUSTER):
        calibrated = Case(
            f"{case.name}, calibrated", replace(case.design, calibration=CALIBRATION), case.r_kind
        )
        plain, _ = best_of(lambda c=case: run_neacovid(df, c), 5)
        cal, _ = best_of(lambda c=calibrated: run_neacovid(df, c), 5)
        ratio = cal.wall / plain.wall
        verdict = "meets" if ratio <= CALIBRATION_GOAL else "MISSES"
        calibration_lines.append(
            f"| {case.name} | {fmt_rows(main_n)} | {fmt_s(plain.wall)} | {fmt_s(cal.wall)} "
            f"| {ratio:.2f}x | {verdict} the {CALIBRATION_GOAL}x goal |"
        )

    scaling = []
    for n in scaling_sizes:
        log(f"scaling: {n:,} rows")
        frame = data.get(n)
        if frame is None:
            frame = make_data(n)
        strat, _ = time_neacovid(frame, STRATIFIED)
        cluster, _ = time_neacovid(frame, CLUSTER)
        scaling.append((n, strat, cluster))
        del frame
        data.pop(n, None)  # a 1e7 frame is ~500 MB: do not keep it around

    lines = render(rows, memory_lines, scaling, notes, versions(r_info, svy_ver))
    lines += [
        "",
        f"Calibrated designs: `Design(..., calibration={CALIBRATION!r})` (the variance from "
        "the calibration residuals; 6 x 40 + 6 x 2 indicator columns), best of 5, binding "
        "included:",
        "",
        "| design | rows | plain s | calibrated s | calibrated / plain | goal |",
        "|---|---|---:|---:|---:|---|",
        *calibration_lines,
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    OUT_FILE.parent.mkdir(parents=True, exist_ok=True)
    OUT_FILE.write_text(text)
    log(f"written to {OUT_FILE}")
    return 1 if any(n.startswith("**!!! MISMATCH") for n in notes) else 0


def render(rows, memory_lines, scaling, notes, version_line) -> list[str]:
    lines = [
        '### `shares(..., ci="logit")` vs R survey and svy',
        "",
        f"Data: synthetic, seed {SEED}; 40 strata (integer codes 0..39), wave x age = 30 "
        "domains, binary y; cluster design: 10-50 PSUs per stratum. "
        "neacovid: best of 3 after a warm-up, including the Design binding. "
        'R: `svydesign()` + `svyby(~y, ~wave+age, des, svyciprop, method="logit", '
        'vartype=c("se","ci"))`, one run, `system.time` elapsed, CSV reading not timed. '
        'svy: `Sample(frame, Design(...)).estimation.prop("y", by=["wave", "age"])`, '
        "once (best of 3 if under 2 s), pandas -> polars conversion not timed. "
        "max |diff|: largest absolute difference from neacovid in estimate, se, ci_low, "
        "ci_high over the 30 domains.",
        "",
        f"Versions: {version_line}.",
        "",
        "| design | rows | neacovid s | R survey s | svy s | R/neacovid | svy/neacovid "
        "| max abs diff R | max abs diff svy |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
        *(row.markdown() for row in rows),
        "",
    ]
    for label, attr in (("R survey", "r"), ("svy", "svy")):
        ratios = [getattr(r, attr) / r.ours for r in rows if getattr(r, attr) is not None]
        if ratios:
            verdict = "meets" if min(ratios) >= SPEED_GOAL else "MISSES"
            lines.append(
                f"- speed vs {label}: {min(ratios):.0f}x to {max(ratios):.0f}x faster - "
                f"{verdict} the {SPEED_GOAL}x goal"
            )
    if any(r.r is not None for r in rows):
        # Checked in R on this data: svyby(svyciprop) vs svyby(svymean) coefficients.
        lines.append(
            '- note: R\'s `svyciprop(method="logit")` estimate (and so its CI) is expit of the '
            "`svyglm` intercept, converged by IRLS (epsilon 1e-8), so it differs from the exact "
            "weighted mean (R's own `svymean`, neacovid, svy) by up to a few 1e-9; its se "
            "comes from `svymean` and agrees to ~1e-15"
        )
    lines += [*notes, "", "Peak memory of one `shares()` call (tracemalloc):", "", *memory_lines]
    lines += [
        "",
        "Scaling of neacovid, best of 3 (wall s, and CPU s of this process; ns/row = wall "
        "time / rows; growth = wall time / wall time at the previous size, i.e. for 10x rows):",
        "",
        "| rows | stratified s | CPU s | ns/row | growth "
        "| stratified-cluster s | CPU s | ns/row | growth |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    previous: tuple[Timing, Timing] | None = None
    for n, *timings in scaling:
        cells = [fmt_rows(n)]
        for i, t in enumerate(timings):
            growth = "-" if previous is None else f"{t.wall / previous[i].wall:.1f}x"
            cells += [fmt_s(t.wall), fmt_s(t.cpu), f"{t.wall / n * 1e9:.0f}", growth]
        lines.append("| " + " | ".join(cells) + " |")
        previous = tuple(timings)
    return lines


if __name__ == "__main__":
    sys.exit(main())
