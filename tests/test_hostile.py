"""Hostile configs, ids, paths and kills: nothing runs, nothing outside results_dir is
touched, nothing is merged, and every refusal is one line with exit status 2.

Each case the hostile tester reported is a regression test here. Runs that fail in
the checks before the workflow start take a second or two; the kill test runs the
workflow at a small scale.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cli_process
import numpy as np
import pandas as pd
import pytest
import yaml

from neacovid.data.config import load_config
from neacovid.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[1]


def neacovid(*args: str, cwd: Path = REPO, timeout: float = 120) -> subprocess.CompletedProcess:
    return cli_process.neacovid(*args, cwd=cwd, timeout=timeout)


def one_line(done: subprocess.CompletedProcess, *words: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    for word in words:
        assert word in lines[0], f"{word!r} not in {lines[0]!r}"


def overlay(tmp_path: Path, config: dict | str | bytes, name: str = "hostile.yaml") -> Path:
    path = tmp_path / name
    if isinstance(config, bytes):
        path.write_bytes(config)
    elif isinstance(config, str):
        path.write_text(config, encoding="utf-8")
    else:
        config.setdefault("data", {}).setdefault("synthetic_dir", str(tmp_path / "synthetic"))
        config.setdefault("results_dir", str(tmp_path / "results"))
        path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- config


def test_a_config_string_never_runs_python(tmp_path):
    marker = tmp_path / "pwned"
    evil = f'sex) + I(__import__("os").system("touch {marker}")) + C(age_group'
    path = overlay(tmp_path, {"models": {"adjust": ["sex", evil]}})
    one_line(neacovid("run", "--configfile", str(path)), "models.adjust")
    assert not marker.exists()


@pytest.mark.parametrize("results_dir", [".", "/", "", "..", "workflow", "notebooks"])
def test_results_dir_must_be_a_directory_of_its_own(tmp_path, results_dir):
    before = sorted(p.name for p in (REPO / "notebooks").iterdir())
    path = overlay(tmp_path, {"results_dir": results_dir})
    one_line(neacovid("run", "--configfile", str(path)), "results_dir")
    assert sorted(p.name for p in (REPO / "notebooks").iterdir()) == before
    assert not (REPO / "analysis.parquet").exists() and not (REPO / "harmonized").exists()


def test_a_wave_id_is_a_plain_name(tmp_path):
    waves = tmp_path / "waves.csv"
    original = (REPO / "data/reference/waves.csv").read_text()
    waves.write_text(original + "../../../../tmp/x,2024-01,100\n")
    path = overlay(tmp_path, {"data": {"waves_csv": str(waves)}})
    one_line(neacovid("run", "--configfile", str(path)), "waves", "plain name")
    path = overlay(tmp_path, {"data": {"waves": ["2019", "../x"]}}, "w2.yaml")
    one_line(neacovid("run", "--configfile", str(path)), "data.waves")


def test_braces_in_a_file_name_are_refused(tmp_path):
    sav = tmp_path / "x{wave}.sav"
    sav.write_bytes(b"")
    path = overlay(
        tmp_path, {"data": {"source": "real", "waves": ["2019"], "files": {"2019": str(sav)}}}
    )
    one_line(neacovid("run", "--configfile", str(path)), "brace", "rename")


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("caf\xe9: 1\n".encode("latin-1"), ["not UTF-8"]),
        (b"\x00\x01\x02\x03binary", ["NUL"]),
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", ["nested"]),
        (
            'a: &a ["x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a]\n'
            "c: &c [*b,*b,*b,*b,*b,*b,*b,*b]\nd: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n",
            ["anchors"],
        ),
        ("tables:\n  level: .nan\n", ["tables.level", "finite"]),
        ("indicators:\n  burnout:\n    cutoff: .nan\n", ["cutoff", "finite"]),
        ("data:\n  waves: [2019]\n  waves: [2020-06]\n", ["twice"]),
    ],
    ids=["latin1", "binary", "deep", "alias-bomb", "nan-level", "nan-cutoff", "duplicate-key"],
)
def test_unsafe_or_broken_config_files(tmp_path, content, words):
    path = overlay(tmp_path, content)
    started = time.monotonic()
    one_line(neacovid("run", "--configfile", str(path)), str(path), *words)
    assert time.monotonic() - started < 60


def test_an_unsafe_codebook_is_refused(tmp_path):
    codebook = tmp_path / "codebook.yaml"
    codebook.write_text("a: &x [1, 2]\nb: *x\n")
    path = overlay(tmp_path, {"data": {"codebook": str(codebook)}})
    one_line(neacovid("run", "--configfile", str(path)), "codebook", "anchors")


def test_waves_csv_without_a_wave_column(tmp_path):
    waves = tmp_path / "waves.csv"
    waves.write_text("id,fieldwork,respondents\n2019,2019-10,100\n")
    path = overlay(tmp_path, {"data": {"waves_csv": str(waves)}})
    one_line(neacovid("run", "--configfile", str(path)), "no column 'wave'")


def test_empty_and_repeated_overlays_give_snakemake_the_checked_config(tmp_path):
    empty = overlay(tmp_path, "", "empty.yaml")
    assert load_config(empty) == load_config()
    first = overlay(tmp_path, {"tables": {"level": 0.9}}, "a.yaml")
    second = overlay(tmp_path, {"disclosure": {"min_n": 11}}, "b.yaml")
    merged = load_config(first, second)
    assert merged["tables"]["level"] == 0.9 and merged["disclosure"]["min_n"] == 11


# --------------------------------------------------------------------------- data


def test_panel_ids_beyond_2_53_stay_exact(tmp_path):
    """Two different people whose ids differ only beyond float precision stay two."""
    from neacovid.data.codebook import load_codebook
    from neacovid.data.harmonize import harmonize_wave
    from neacovid.data.synth import write_waves

    sav = write_waves(tmp_path / "sav", scale=0.01)["2021-11"]
    import pyreadstat

    frame, _ = pyreadstat.read_sav(str(sav))
    big = 2**60
    frame["panelid"] = [str(big + i) for i in range(len(frame))]
    csv = tmp_path / "wave.csv"
    frame.to_csv(csv, index=False)
    harmonized, _ = harmonize_wave(
        csv, "2021-11", load_codebook(REPO / "workflow/codebook/nea_covid.yaml")
    )
    assert harmonized["resp_id"].nunique() == len(harmonized)
    assert str(big + 1) in set(harmonized["resp_id"])
    parquet = tmp_path / "wave.parquet"
    frame.assign(panelid=frame["panelid"].astype(float)).to_parquet(parquet)
    with pytest.raises(DataError, match="2\\*\\*53"):
        harmonize_wave(parquet, "2021-11", load_codebook(REPO / "workflow/codebook/nea_covid.yaml"))


@pytest.mark.parametrize(
    ("weight", "words"), [(1e308, ["above"]), (-3.0, ["negative"]), (np.inf, ["infinite"])]
)
def test_absurd_weights_are_named(tmp_path, weight, words):
    data = pd.read_csv(REPO / "tests/reference/data/apistrat.csv")
    data.loc[3, "pw"] = weight
    path = tmp_path / "w.csv"
    data.to_csv(path, index=False)
    one_line(neacovid("estimate", str(path), "--var", "awards", "--weight", "pw"), "pw", *words)


def test_mean_of_infinite_values_and_models_with_infinite_predictors(tmp_path):
    data = pd.read_csv(REPO / "tests/reference/data/apistrat.csv").astype(
        {"api00": float, "meals": float}
    )
    data.loc[5, "api00"] = np.inf
    data.loc[6, "meals"] = np.inf
    path = tmp_path / "inf.csv"
    data.to_csv(path, index=False)
    one_line(
        neacovid("estimate", str(path), "--var", "api00", "--mean", "--weight", "pw"),
        "api00",
        "infinite",
    )
    one_line(
        neacovid("model", str(path), "--formula", "y700 ~ meals", "--weight", "pw"),
        "meals",
        "infinite",
    )


def test_a_csv_with_a_header_and_no_rows(tmp_path):
    path = tmp_path / "header.csv"
    path.write_text("awards,pw\n")
    one_line(neacovid("estimate", str(path), "--var", "awards", "--weight", "pw"), "no rows")


def test_config_values_in_range(tmp_path):
    with pytest.raises(ConfigError):
        load_config(overlay(tmp_path, {"indicators": {"burnout": {"min_items": 9}}}))
    one_line(
        neacovid(
            "run",
            "--configfile",
            str(overlay(tmp_path, {"indicators": {"burnout": {"min_items": 9}}})),
        ),
        "min_items",
    )
    one_line(
        neacovid(
            "run", "--configfile", str(overlay(tmp_path, {"disclosure": {"min_n": 500}}, "d.yaml"))
        ),
        "min_n",
    )


# --------------------------------------------------------------------------- processes


def _children_of_run(results: Path) -> list[int]:
    """Processes (Snakemake and its jobs) that work on this results directory."""
    import psutil

    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if str(results) in cmdline and "snakemake" in cmdline:
            found.append(process.info["pid"])
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="the parent-death signal is Linux's")
def test_killing_neacovid_ends_its_snakemake_and_the_rerun_cleans_up(tmp_path):
    config = overlay(tmp_path, {"data": {"scale": 0.02}})
    results = tmp_path / "results"
    # up to the tables: long enough to be killed in, short enough to be run again
    until = ["--", "--until", "tables"]
    process = subprocess.Popen(
        [sys.executable, "-m", "neacovid", "run", "--configfile", str(config), *until],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not _children_of_run(results) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _children_of_run(results), "Snakemake did not start"
    time.sleep(2)
    # a half-written file, as a killed job leaves one
    stale = results / "tables" / ".burnout_by_wave.csv.x1y2.tmp"
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_text("half")
    assert process.poll() is None, "the run ended before it could be killed"
    os.kill(process.pid, signal.SIGKILL)  # neacovid only, as `kill -9 <pid>` does
    process.wait()
    deadline = time.monotonic() + 30
    while _children_of_run(results) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _children_of_run(results), "Snakemake kept running after neacovid was killed"
    done = neacovid("run", "--configfile", str(config), *until, timeout=600)
    assert done.returncode == 0, done.stderr
    assert not stale.exists() and not list(results.rglob("*.tmp"))
