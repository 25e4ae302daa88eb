"""Bad input through the whole workflow (`neacovid run`, what `make report` runs).

Each case feeds one problem and checks: exit status 2, one line on stderr
naming the file / wave / variable, no traceback, and no tables or report in
results/. Problems that are not errors (unknown codes, ages outside 15-74,
zero weights, a domain without respondents) must be counted, not dropped.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from cli_process import neacovid
from conftest import column, rewrite
from test_corrupt_files import crashing_copy, header_only_copy

from neacovid.data.synth import write_waves

REPO = Path(__file__).resolve().parents[1]
WAVES = ["2019", "2021-11"]


@pytest.fixture(scope="module")
def clean_files(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("clean")
    paths = write_waves(out, scale=0.02)
    return {wave: paths[wave] for wave in WAVES}


def neacovid_run(config: Path) -> subprocess.CompletedProcess:
    return neacovid("run", "--configfile", str(config), cwd=REPO)


def setup(tmp: Path, clean: dict, change=None, wave="2021-11", extra=None) -> tuple[Path, Path]:
    """Copy the clean files into tmp, apply ``change`` to one wave's file."""
    files = {}
    for w, src in clean.items():
        dst = tmp / f"nea_{w}.sav"
        dst.write_bytes(Path(src).read_bytes())
        files[w] = str(dst)
    if change is not None:
        change(Path(files[wave]))
    config = {
        "results_dir": str(tmp / "results"),
        "data": {"source": "real", "waves": WAVES, "files": files},
    }
    for key, value in (extra or {}).items():
        config[key] = {**config.get(key, {}), **value}
    path = tmp / "config.yaml"
    path.write_text(yaml.safe_dump(config))
    return path, tmp / "results"


def assert_stopped(done, results: Path, *words: str) -> None:
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in lines[0], f"{word!r} not in: {lines[0]}"
    # Every check runs before the workflow starts: not even a log is written.
    assert not results.exists(), f"{sorted(p.name for p in results.iterdir())} written"


# -- errors: the run stops ----------------------------------------------------


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _not_spss(path: Path) -> None:
    path.write_text("respnr,gewicht\n1,2\n")


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _crashes_the_reader(path: Path) -> None:
    path.write_bytes(crashing_copy(path.read_bytes()))


def _header_only(path: Path) -> None:
    path.write_bytes(header_only_copy(path.read_bytes()))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (_truncate, ["nea_2021-11.sav", "2021-11"]),
        (_not_spss, ["nea_2021-11.sav", "2021-11"]),
        (_empty, ["nea_2021-11.sav", "2021-11"]),
        (_crashes_the_reader, ["nea_2021-11.sav", "wave 2021-11", "crashed"]),
        (_header_only, ["nea_2021-11.sav", "wave 2021-11", "truncated"]),
    ],
    ids=["truncated", "not-spss", "empty", "crashes-the-reader", "header-only"],
)
def test_unreadable_file(tmp_path, clean_files, change, words):
    config, results = setup(tmp_path, clean_files, change)
    assert_stopped(neacovid_run(config), results, *words)


@pytest.mark.parametrize(
    ("problem", "words"),
    [
        ("negative", ["negative"]),
        ("text", ["not numeric", "numeric"]),
    ],
)
def test_bad_weights(tmp_path, clean_files, problem, words):
    def change(path):
        weight = column(path, "ophoog")

        def edit(frame):
            if problem == "negative":
                frame.loc[frame.index[:3], weight] = -1.0
            else:
                frame[weight] = frame[weight].map(lambda v: f"w{v:.0f}")
            return frame

        rewrite(path, edit)

    config, results = setup(tmp_path, clean_files, change)
    done = neacovid_run(config)
    weight = column(Path(tmp_path / "nea_2021-11.sav"), "ophoog")
    assert_stopped(done, results, "nea_2021-11.sav", "2021-11", weight)
    assert any(w in done.stderr for w in words)


def test_duplicate_panel_ids(tmp_path, clean_files):
    def change(path):
        ident = column(path, "panelid")

        def edit(frame):
            frame.loc[frame.index[1], ident] = frame.loc[frame.index[0], ident]
            return frame

        rewrite(path, edit)

    config, results = setup(tmp_path, clean_files, change)
    ident = column(tmp_path / "nea_2021-11.sav", "panelid")
    assert_stopped(neacovid_run(config), results, "nea_2021-11.sav", "2021-11", ident, "duplicate")


def test_wave_with_zero_respondents(tmp_path, clean_files):
    config, results = setup(tmp_path, clean_files, lambda p: rewrite(p, lambda f: f.iloc[:0]))
    assert_stopped(neacovid_run(config), results, "nea_2021-11.sav", "2021-11", "no respondents")


def test_codebook_mapping_two_variables_to_one_target(tmp_path, clean_files):
    codebook = yaml.safe_load((REPO / "workflow/codebook/nea_covid.yaml").read_text())
    variables = codebook["templates"]["covid"]["variables"]
    variables["ee_2"] = "ee1"  # ee_1 and ee_2 both -> ee1
    path = tmp_path / "codebook.yaml"
    path.write_text(yaml.safe_dump(codebook, sort_keys=False))
    config, results = setup(tmp_path, clean_files, extra={"data": {"codebook": str(path)}})
    done = neacovid_run(config)
    assert_stopped(done, results, "ee1")
    assert "ee_1" in done.stderr or "ee_2" in done.stderr


def test_unknown_code_in_strict_mode(tmp_path, clean_files):
    def change(path):
        item = column(path, "eenzaam_2")
        rewrite(path, lambda f: f.assign(**{item: f[item].where(f.index > 2, 5.0)}))

    config, results = setup(tmp_path, clean_files, change, extra={"data": {"strict": True}})
    assert_stopped(
        neacovid_run(config), results, "nea_2021-11.sav", "2021-11", "eenzaam_2", "strict"
    )


def test_lonely_psu_under_fail(tmp_path, clean_files):
    """One respondent alone in a 2019 sampling stratum: no variance under lonely_psu: fail."""

    def change(path):
        sector = column(path, "sbi")

        def edit(frame):
            frame[sector] = frame[sector].where(frame[sector] != "D", "G")  # empty section D
            frame.loc[frame.index[0], sector] = "D"
            return frame

        rewrite(path, edit)

    config, results = setup(
        tmp_path, clean_files, change, wave="2019", extra={"design": {"lonely_psu": "fail"}}
    )
    done = neacovid_run(config)
    assert done.returncode == 2, done.stderr
    assert "only one PSU" in done.stderr and "'D'" in done.stderr
    assert "stratum_2019" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not (results / "tables").exists()


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"tables": {"shares": ["burnout", "stress"]}}, ["tables.shares", "stress"]),
        ({"indicators": {"stress": {"items": ["ee1"]}}}, ["unknown key 'stress'", "indicators"]),
        ({"design": {"lonely_psu": "drop"}}, ["design.lonely_psu", "drop"]),
        ({"disclosure": {"min_n": "ten"}}, ["disclosure.min_n"]),
        ({"report": {"focus_wave": "2021-03"}}, ["report.focus_wave", "2021-03"]),
    ],
    ids=[
        "unknown-table-indicator",
        "unknown-indicator",
        "bad-lonely",
        "wrong-type",
        "wave-not-analysed",
    ],
)
def test_bad_config(tmp_path, clean_files, extra, words):
    config, results = setup(tmp_path, clean_files, extra=extra)
    assert_stopped(neacovid_run(config), results, *words)


# -- not errors: counted, the run goes on -------------------------------------


def test_counted_not_dropped(pipeline_tiny):
    """Unknown codes, ages outside 15-74 and zero weights are excluded or set
    missing and counted; a wave without answers to an item is an empty cell.
    The session's scale-0.02 run has these defects in 2021-11 (conftest.add_defects)."""
    done, results = pipeline_tiny.done, pipeline_tiny.results
    assert done.returncode == 0, done.stderr
    wave_file = pipeline_tiny.root / "sav" / "2021-11.sav"
    audit = json.loads((results / "harmonized/2021-11.audit.json").read_text())
    item = column(wave_file, "eenzaam_2")
    assert audit["unmapped_codes"][item] == {"5": 4}
    assert audit["rows_excluded"]["age_outside_15_74"] >= 3
    assert audit["rows_excluded"]["weight_zero"] == 2
    assert audit["rows_read"] == audit["rows_kept"] + sum(audit["rows_excluded"].values())
    future = pd.read_csv(results / "tables/future_hybrid_by_wave.csv", dtype={"wave": str})
    empty = future[future["wave"] == "2019"]
    assert len(empty) > 0 and (empty["status"] == "empty").all()
    provenance = json.loads((results / "provenance.json").read_text())
    assert provenance["totals"]["rows_excluded"] >= 5
    # an impossible number is not an unknown code: counted apart, and said
    hours = column(wave_file, "uren_thuis")
    assert audit["out_of_range"] == {hours: {"-1": 3}} and hours not in audit["unmapped_codes"]
    assert f"2021-11: 3 value(s) out of range, set missing ({hours}: -1 (3))" in done.stdout
    assert "2021-11: 4 value(s) not in the codebook" in done.stdout
    report = (results / "report/en/index.html").read_text(encoding="utf-8")
    assert "3 impossible value(s)" in report and f"{hours}: -1 (3×)" in report

    # strict mode stops before the workflow, and the good outputs of before stay
    kept = {p: p.read_bytes() for p in results.rglob("*") if p.is_file()}
    strict = pipeline_tiny.root / "strict.yaml"
    strict.write_text(yaml.safe_dump({"data": {"strict": True}}))
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "neacovid.cli",
            "run",
            *pipeline_tiny.configfile_args(),
            "--configfile",
            str(strict),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "outside its range [0, 100]" in done.stderr and "correct the file" in done.stderr
    assert "add the code" not in done.stderr
    assert {p: p.read_bytes() for p in results.rglob("*") if p.is_file()} == kept
