"""Benchmark `neacovid.survey.compare.changes` against R survey (svyby covmat + svycontrast).

A deterministic synthetic panel: 1,000,000 stacked rows, 6 waves, panel ids
shared across waves (respondent = PSU), 40 strata, 6 age groups x 3
locations. The change of every wave against wave 0 within every age x
location group (90 differences, 108 domains) is computed

* by neacovid: ``changes(df, Design("w", strata="stratum", psu="pid"), "y",
  over="wave", base=0, by=["age", "loc"])``, best of 3 after a warm-up,
  including the binding of the design;
* by R survey, once: ``svydesign()`` + ``subset(!is.na(y))`` +
  ``svyby(~y, ~age+loc+wave, des, svymean, covmat=TRUE)`` + ``svycontrast()``
  of the same 90 differences, timed with ``system.time``; reading the CSV is
  not timed. If R takes longer than 5 minutes it is stopped and both are run
  on 200,000 rows instead.

The numbers are checked against each other (estimates and differences 1e-9
absolute, SE 1e-7 relative) and the timings printed as a Markdown table, also
written to ``bench/out/compare.md``.

Usage: python bench/compare.py [--rows N] [--no-r]
"""

from __future__ import annotations

import argparse
import platform
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from common import RTimeout, best_of, log, machine, r_versions, run_rscript, write_csv
from scipy import special

from neacovid.survey.compare import changes
from neacovid.survey.design import Design

SEED = 20200317
N_STRATA = 40
N_WAVES = 6
N_AGES = 6
N_LOCS = 3
BY = ["age", "loc"]
DESIGN = Design("w", strata="stratum", psu="pid")
R_TIMEOUT = 300  # seconds
FALLBACK_ROWS = 200_000
SPEED_GOAL = 20
OUT_FILE = Path(__file__).resolve().parent / "out" / "compare.md"

R_CODE = r"""
args <- commandArgs(trailingOnly = TRUE)
suppressPackageStartupMessages(library(survey))
options(survey.lonely.psu = "fail")
if (requireNamespace("data.table", quietly = TRUE)) {
  reader <- paste0("data.table::fread ", packageVersion("data.table"))
  d <- as.data.frame(data.table::fread(args[1]))
} else {
  reader <- "read.csv"
  d <- read.csv(args[1])
}
invisible(gc())
timing <- system.time({
  des <- svydesign(ids = ~pid, strata = ~stratum, weights = ~w, data = d)
  # subset first: svyby(covmat = TRUE, na.rm = TRUE) fails in survey 4.1.1
  # when a domain has missing values.
  des <- subset(des, !is.na(y))
  est <- svyby(~y, ~age + loc + wave, des, svymean, covmat = TRUE)
  cf <- coef(est)
  key <- paste(est$age, est$loc)
  base <- match(key, key[est$wave == 0] )
  base_row <- which(est$wave == 0)[base]
  cur <- which(est$wave != 0)
  K <- lapply(cur, function(i) {
    v <- numeric(length(cf)); v[i] <- 1; v[base_row[i]] <- -1; v
  })
  names(K) <- sprintf("c%d", seq_along(K))
  con <- svycontrast(est, K)
})
out <- data.frame(age = est$age[cur], loc = est$loc[cur], wave = est$wave[cur],
                  estimate = unname(cf[cur]), base_estimate = unname(cf[base_row[cur]]),
                  diff = unname(coef(con)), se = sqrt(unname(diag(vcov(con)))))
write.csv(out, args[2], row.names = FALSE)
cat("r_version=", R.version.string, "\n", sep = "")
cat("survey_version=", as.character(packageVersion("survey")), "\n", sep = "")
cat("reader=", reader, "\n", sep = "")
cat("rows=", nrow(d), "\n", sep = "")
cat("elapsed=", format(timing[["elapsed"]], digits = 6), "\n", sep = "")
"""


def make_panel(n_rows: int, seed: int = SEED) -> pd.DataFrame:
    """About ``n_rows`` stacked rows: persons followed over 6 waves with attrition.

    Columns: ``pid`` (panel id = PSU), ``stratum`` 0..39 (fixed per person),
    ``wave`` 0..5, ``age`` 0..5 (fixed per person), ``loc`` 0..2 (varies by
    wave), ``w`` weight (varies by person and wave), ``y`` 0/1 with a strong
    person effect and 1% missing.
    """
    rng = np.random.default_rng(seed)
    # Persons take part in about 70% of the waves: draw enough of them, then
    # keep exactly n_rows person-waves at random (more attrition, same panel).
    n_person = int(n_rows / (N_WAVES * 0.6)) + 10
    stratum = rng.choice(N_STRATA, size=n_person, p=rng.dirichlet(np.full(N_STRATA, 4.0)))
    age = rng.integers(0, N_AGES, n_person)
    u = rng.normal(0, 1.5, n_person)
    base_w = rng.uniform(50, 500, N_STRATA)[stratum] * rng.lognormal(0, 0.4, n_person)
    present = np.empty((n_person, N_WAVES), dtype=bool)
    present[:, 0] = rng.random(n_person) < 0.9
    for k in range(1, N_WAVES):
        present[:, k] = rng.random(n_person) < np.where(present[:, k - 1], 0.8, 0.4)
    pid, wave = np.nonzero(present)
    n = len(pid)
    loc = rng.integers(0, N_LOCS, n)
    logit = -0.5 + 0.1 * wave - 0.1 * age[pid] + 0.2 * loc + u[pid]
    y = (rng.random(n) < special.expit(logit)).astype(np.float64)
    y[rng.random(n) < 0.01] = np.nan
    frame = pd.DataFrame(
        {
            "pid": pid,
            "stratum": stratum[pid],
            "wave": wave,
            "age": age[pid],
            "loc": loc,
            "w": base_w[pid] * rng.lognormal(0, 0.1, n),
            "y": y,
        }
    )
    if len(frame) < n_rows:
        raise RuntimeError("the synthetic panel came out too small; lower the present share")
    return frame.sample(n=n_rows, random_state=seed).reset_index(drop=True)


def run_ours(df: pd.DataFrame) -> pd.DataFrame:
    return changes(df, DESIGN, "y", over="wave", base=0, by=BY)


def time_ours(df: pd.DataFrame, repeats: int = 3) -> tuple[float, float, pd.DataFrame]:
    timing, result = best_of(lambda: run_ours(df), repeats)
    return timing.wall, timing.cpu, result


def run_r(df: pd.DataFrame, workdir: Path, timeout: float) -> tuple[float, pd.DataFrame, dict]:
    data_csv = workdir / "panel.csv"
    out_csv = workdir / "r_out.csv"
    script = workdir / "compare_r.R"
    script.write_text(R_CODE)
    write_csv(df, data_csv)
    info = run_rscript(script, data_csv, out_csv, timeout=timeout, cleanup=data_csv)
    return float(info["elapsed"]), pd.read_csv(out_csv), info


def deviations(ours: pd.DataFrame, theirs: pd.DataFrame) -> dict[str, float]:
    keys = ["age", "loc", "wave"]
    merged = ours.merge(theirs, on=keys, how="outer", suffixes=("", "_r"), indicator=True)
    if len(merged) != len(ours) or (merged["_merge"] != "both").any():
        return {"rows match": float("nan")}
    out = {}
    for c in ["estimate", "base_estimate", "diff"]:
        out[f"{c} (abs)"] = float(np.max(np.abs(merged[c] - merged[f"{c}_r"])))
    out["se (rel)"] = float(np.max(np.abs(merged["se"] / merged["se_r"] - 1)))
    return out


def agrees(dev: dict[str, float]) -> bool:
    limits = {"estimate (abs)": 1e-9, "base_estimate (abs)": 1e-9, "diff (abs)": 1e-9}
    limits["se (rel)"] = 1e-7
    return all(k in limits and v <= limits[k] for k, v in dev.items())


def fmt_rows(n: int) -> str:
    return f"{n:,}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--no-r", action="store_true")
    args = parser.parse_args(argv)

    notes: list[str] = []
    use_r = not args.no_r and shutil.which("Rscript") is not None
    if not args.no_r and not use_r:
        notes.append("- R survey: Rscript not found, not timed")

    results = []  # (rows, persons, ours wall, ours cpu, r seconds or None, deviations)
    info: dict[str, str] = {}
    n_target = args.rows
    with tempfile.TemporaryDirectory(prefix="neacovid-bench-compare-") as tmp:
        while True:
            df = make_panel(n_target)
            persons = df["pid"].nunique()
            log(f"{len(df):,} rows, {persons:,} persons: neacovid")
            wall, cpu, ours = time_ours(df)
            r_s, dev = None, {}
            if use_r:
                log(f"{len(df):,} rows: R survey (once, timeout {R_TIMEOUT} s)")
                try:
                    r_s, theirs, info = run_r(df, Path(tmp), R_TIMEOUT)
                except RTimeout:
                    notes.append(
                        f"- R survey at {fmt_rows(len(df))} rows: stopped after {R_TIMEOUT} s; "
                        f"both timed again at {fmt_rows(FALLBACK_ROWS)} rows"
                    )
                    results.append((len(df), persons, wall, cpu, None, {}))
                    if n_target > FALLBACK_ROWS:
                        n_target = FALLBACK_ROWS
                        continue
                else:
                    dev = deviations(ours, theirs)
            results.append((len(df), persons, wall, cpu, r_s, dev))
            break

    lines = [
        "### `changes()` (panel: wave vs wave 0 by age x location) vs R survey",
        "",
        f"Data: synthetic panel, seed {SEED}; 6 waves stacked, respondent = PSU (ids shared "
        "across waves, attrition and re-entry), 40 strata, 6 age groups x 3 locations "
        "(108 domains, 90 differences), binary y with a strong person effect, 1% missing. "
        "neacovid: `changes(df, Design('w', strata='stratum', psu='pid'), 'y', over='wave', "
        "base=0, by=['age', 'loc'])`, best of 3 after a warm-up, binding included. "
        "R: `svydesign()` + `subset(des, !is.na(y))` + `svyby(~y, ~age+loc+wave, des, "
        "svymean, covmat=TRUE)` + `svycontrast()` of the 90 differences, one run, "
        "`system.time` elapsed, CSV reading not timed.",
        "",
        f"Versions: Python {platform.python_version()}, numpy {np.__version__}, "
        f"pandas {pd.__version__}" + (f"; {r_versions(info)}" if info else "") + f"; {machine()}.",
        "",
        "| rows | persons (PSUs) | neacovid s | neacovid CPU s | R survey s | R/neacovid "
        "| max abs diff estimate | max abs diff diff | max rel diff se |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    verdicts = []
    for n, persons, wall, cpu, r_s, dev in results:
        ratio = "-" if r_s is None else f"{r_s / wall:.0f}x"
        cells = [
            fmt_rows(n),
            fmt_rows(persons),
            f"{wall:.3f}",
            f"{cpu:.3f}",
            "-" if r_s is None else f"{r_s:.1f}",
            ratio,
            f"{max(dev.get('estimate (abs)', np.nan), dev.get('base_estimate (abs)', np.nan)):.1e}"
            if dev
            else "-",
            f"{dev['diff (abs)']:.1e}" if dev else "-",
            f"{dev['se (rel)']:.1e}" if dev else "-",
        ]
        lines.append("| " + " | ".join(cells) + " |")
        if r_s is not None:
            ok = agrees(dev)
            verdicts.append(
                f"- {fmt_rows(n)} rows: numbers {'agree' if ok else '**DISAGREE**'} "
                "(estimates and differences within 1e-9, SE within 1e-7 relative); "
                f"{r_s / wall:.0f}x faster than R - "
                f"{'meets' if r_s / wall >= SPEED_GOAL else 'MISSES'} the {SPEED_GOAL}x goal"
            )
    lines += ["", *verdicts, *notes]
    text = "\n".join(lines) + "\n"
    print(text)
    OUT_FILE.parent.mkdir(parents=True, exist_ok=True)
    OUT_FILE.write_text(text)
    log(f"written to {OUT_FILE}")
    bad = any(r is not None and not agrees(d) for *_, r, d in results)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
