"""`neacovid inspect FILE --codebook-draft OUT.yaml`: a codebook skeleton for a new file.

The draft must load as it is, mark every guess, list what it could not map, and
map the synthetic waves well enough that harmonising with it gives the same
columns as the shipped codebook wherever it guessed the same variable, both
from a codebook that knows the file's variable names and from keywords alone.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest
import yaml

from neacovid.data import synth
from neacovid.data.codebook import load_codebook
from neacovid.data.draft import GUESS, PLACEHOLDER, draft_codebook, write_codebook_draft
from neacovid.data.harmonize import harmonize_wave
from neacovid.errors import InputFileError

REPO = Path(__file__).resolve().parents[1]
CODEBOOK = REPO / "workflow" / "codebook" / "nea_covid.yaml"
COVID = "2021-11"
KEY_TARGETS = {
    "resp_id",
    "weight",
    "age",
    "sex",
    "sector",
    "stratum",
    "ee1",
    "ee2",
    "ee3",
    "ee4",
    "ee5",
}


@pytest.fixture(scope="module")
def waves(tmp_path_factory) -> dict[str, Path]:
    return synth.write_waves(tmp_path_factory.mktemp("waves"), seed=11, scale=0.02)


@pytest.fixture(scope="module")
def codebooks(tmp_path_factory) -> dict[str, Path]:
    """The shipped codebook, and two that do not know the file's variable names:
    one without the 2019 wave (for the 2019 file), one with only it (for a COVID file)."""
    out = tmp_path_factory.mktemp("codebooks")
    raw = yaml.safe_load(CODEBOOK.read_text(encoding="utf-8"))
    without_2019 = {**raw, "waves": {k: v for k, v in raw["waves"].items() if k != "2019"}}
    only_2019 = {k: v for k, v in raw.items() if k != "templates"}
    only_2019["waves"] = {"2019": raw["waves"]["2019"]}
    paths = {"shipped": CODEBOOK}
    for name, content in (("without_2019", without_2019), ("only_2019", only_2019)):
        paths[name] = out / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(content, sort_keys=False, allow_unicode=True))
    return paths


def named(draft_text: str, wave: str, tmp_path: Path) -> Path:
    path = tmp_path / f"draft_{wave}.yaml"
    path.write_text(draft_text.replace(PLACEHOLDER, wave), encoding="utf-8")
    return path


CASES = {
    "covid, names known": (COVID, "shipped"),
    "2019, names known": ("2019", "shipped"),
    "covid, keywords only": (COVID, "only_2019"),
    "2019, keywords only": ("2019", "without_2019"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_draft_loads_and_maps_the_key_targets(waves, codebooks, tmp_path, case):
    wave, codebook = CASES[case]
    draft = draft_codebook(waves[wave], codebooks[codebook])
    as_is = yaml.safe_load(draft.text)
    assert list(as_is["waves"]) == [PLACEHOLDER]
    load_codebook(named(draft.text, PLACEHOLDER, tmp_path))  # loads as written
    cb = load_codebook(named(draft.text, wave, tmp_path))
    targets = cb.wave(wave).targets
    assert set(targets) >= KEY_TARGETS, sorted(KEY_TARGETS - set(targets))
    assert {"kans_neck", "lonely1", "phys_back", "sitting_hours", "hours_home"} <= set(targets)
    assert not draft.required_without_variable


@pytest.mark.parametrize("case", list(CASES))
def test_harmonising_with_the_draft_equals_the_codebook_where_it_guessed_right(
    waves, codebooks, tmp_path, case
):
    wave, codebook = CASES[case]
    draft = draft_codebook(waves[wave], codebooks[codebook])
    drafted = load_codebook(named(draft.text, wave, tmp_path))
    shipped = load_codebook(CODEBOOK)
    real, guess = shipped.wave(wave).targets, drafted.wave(wave).targets
    right = [t for t in shipped.schema if t in guess and guess[t] == real.get(t)]
    assert set(right) >= KEY_TARGETS
    expected, expected_audit = harmonize_wave(waves[wave], wave, shipped)
    got, audit = harmonize_wave(waves[wave], wave, drafted)
    assert audit["rows_kept"] == expected_audit["rows_kept"]
    pd.testing.assert_frame_equal(got[["wave", *right]], expected[["wave", *right]])


def test_every_guess_is_marked_and_every_variable_listed(waves, codebooks):
    draft = draft_codebook(waves["2019"], codebooks["without_2019"])
    lines = draft.text.splitlines()
    mapping_lines = [
        line for line in lines if line.startswith("      ") and not line.strip().startswith("#")
    ]
    assert mapping_lines and all(GUESS in line for line in mapping_lines)
    raw, _ = pyreadstat.read_sav(str(waves["2019"]), metadataonly=True)
    for name in raw.columns:  # each with its label as a comment
        assert any(line.strip().startswith(f"# {name}: ") for line in lines), name
    assert set(draft.unmatched) == {"OPLNIV", "CONTRACT", "ARBDUUR"}
    assert "      # OPLNIV: TARGET  (no target matched)" in lines
    # codes and labels from the file's value labels: 1 = man, 2 = vrouw; 1 = ja, 2 = nee
    spec = yaml.safe_load(draft.text)["waves"][PLACEHOLDER]["variables"]
    assert spec["geslacht"] == {
        "target": "sex",
        "codes": {1: "male", 2: "female"},
        "labels": {1: "man", 2: "vrouw"},
    }
    assert spec["KANS1"]["codes"] == {1: 1, 2: 0}
    assert spec["SBI2008"] == ["sector", "stratum"]
    assert "hours_location" in draft.targets_without_variable


def test_a_known_variable_whose_labels_contradict_is_not_copied(waves, codebooks, tmp_path):
    """An R factor written by haven (sekse 1 = man, 2 = vrouw where the codebook has
    0 = man): the draft does not copy the codebook's codes but reads the labels."""
    frame, meta = pyreadstat.read_sav(str(waves[COVID]), user_missing=True)
    frame["sekse"] = frame["sekse"] + 1
    path = tmp_path / "factor.sav"
    labels = dict(meta.variable_value_labels)
    labels["sekse"] = {1: "man", 2: "vrouw"}
    pyreadstat.write_sav(
        frame, str(path), variable_value_labels=labels, missing_ranges=meta.missing_ranges
    )
    draft = draft_codebook(path, codebooks["shipped"])
    spec = yaml.safe_load(draft.text)["waves"][PLACEHOLDER]["variables"]
    assert spec["sekse"]["codes"] == {1: "male", 2: "female"}
    assert "the file labels code 0" in draft.text or "the file labels code 1" in draft.text


def test_labels_cannot_break_the_yaml(tmp_path, codebooks):
    path = tmp_path / "nasty.sav"
    pyreadstat.write_sav(
        pd.DataFrame({"leeftijd": [30.0], "q1": [1.0]}),
        str(path),
        column_labels={"leeftijd": "Leeftijd\nwaves: {}\n\x1b[31m", "q1": "x\r# y\u202e"},
        variable_value_labels={"q1": {1.0: "a\nb: c"}},
    )
    draft = draft_codebook(path, codebooks["shipped"])
    parsed = yaml.safe_load(draft.text)
    assert list(parsed["waves"]) == [PLACEHOLDER]
    assert parsed["waves"][PLACEHOLDER]["variables"] == {"leeftijd": "age"}
    assert "\x1b" not in draft.text and "\u202e" not in draft.text
    assert "Leeftijd\\nwaves: {}\\n\\x1b[31m" in draft.text
    assert draft.required_without_variable == ["resp_id", "weight", "stratum"]
    assert "REQUIRED and not found" in draft.text


def test_an_existing_draft_is_kept_unless_forced(waves, tmp_path):
    out = tmp_path / "draft.yaml"
    out.write_text("mine\n")
    with pytest.raises(InputFileError, match="--force"):
        write_codebook_draft(waves[COVID], CODEBOOK, out)
    assert out.read_text() == "mine\n"
    write_codebook_draft(waves[COVID], CODEBOOK, out, force=True)
    assert "waves:" in out.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["draft.yaml"]


def test_the_command_line(waves, tmp_path):
    out = tmp_path / "new_wave.yaml"

    def inspect(*extra):
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "neacovid",
                "inspect",
                str(waves[COVID]),
                "--codebook",
                str(CODEBOOK),
                "--codebook-draft",
                str(out),
                *extra,
            ],
            capture_output=True,
            text=True,
            check=False,
        )

    done = inspect()
    assert done.returncode == 0, done.stderr
    assert "GUESS" in done.stdout and PLACEHOLDER in done.stdout
    load_codebook(out)
    again = inspect()
    assert again.returncode == 2 and len(again.stderr.strip().splitlines()) == 1
    assert str(out) in again.stderr and "Traceback" not in again.stderr
    assert inspect("--force").returncode == 0


def test_a_file_without_value_labels_gets_a_note_where_codes_are_needed(waves, codebooks, tmp_path):
    frame, _ = pyreadstat.read_sav(str(waves[COVID]))
    path = tmp_path / "wave.csv"
    frame.to_csv(path, index=False)
    known = draft_codebook(path, CODEBOOK)  # the codebook's codes for sekse are copied
    assert yaml.safe_load(known.text)["waves"][PLACEHOLDER]["variables"]["sekse"]["codes"] == {
        0: "male",
        1: "female",
    }
    by_keywords = draft_codebook(path, codebooks["only_2019"])
    assert by_keywords.mapped["sekse"] == ["sex"]
    assert "CHECK: the file gives no value labels: add 'codes'" in by_keywords.text
