"""neacovid.data.codebook and neacovid.data.harmonize: mapping real-looking .sav files."""

import json
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from neacovid.data import synth
from neacovid.data.codebook import load_codebook, parse_codebook
from neacovid.data.harmonize import check_file, harmonize_wave, inspect_file
from neacovid.errors import CodebookError, DataError, InputFileError

REPO = Path(__file__).resolve().parents[1]
CODEBOOK = REPO / "workflow" / "codebook" / "nea_covid.yaml"
NA = np.nan


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(CODEBOOK)


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    return synth.write_waves(tmp_path_factory.mktemp("synthetic"), seed=7, scale=0.04)


# --------------------------------------------------------------------------- the shipped codebook


def test_codebook_resolves_every_wave(codebook):
    assert list(codebook.waves) == ["2019", "2020-06", "2020-11", "2021-03", "2021-11", "2023-06"]
    covid = codebook.wave("2021-11")
    assert covid.targets["weight"] == "ophoogfactor"
    assert covid.targets["future_hybrid"] == "toekomst_thuis"
    assert "future_hybrid" not in codebook.wave("2020-06").targets  # dropped
    assert codebook.wave("2019").targets["hours_location"] == "derived"
    assert "ARBDUUR" in codebook.wave("2019").file_variables


def test_synthetic_waves_harmonise_to_the_common_schema(synthetic, codebook):
    frames = {}
    for wave, path in synthetic.items():
        frame, audit = harmonize_wave(path, wave, codebook)
        frames[wave] = frame
        assert list(frame.columns) == [
            "resp_id",
            "wave",
            *[t for t in codebook.schema if t != "resp_id"],
        ]
        assert (frame["wave"] == wave).all()
        assert audit["rows_read"] == audit["rows_kept"] + sum(audit["rows_excluded"].values())
        assert audit["rows_kept"] == len(frame)
        assert audit["unmapped_codes"] == {}
        json.dumps(audit)  # written as <wave>.audit.json
        assert set(frame["sex"]) == {"male", "female"}
        assert frame["sector"].str.fullmatch("[A-S]").all()
        assert (frame["stratum"] == frame["sector"]).all()
        items = frame[["ee1", "ee2", "ee3", "ee4", "ee5"]]
        assert items.isna().any().any()  # declared 8/9 became missing ...
        assert set(np.unique(items.stack().dropna())) <= set(range(1, 8))  # ... never values
        assert frame["hours_home"].max() < 98 and frame["sitting_hours"].max() < 98
        assert frame["age"].between(15, 74).all()
    assert frames["2019"]["future_hybrid"].isna().all()
    assert frames["2020-06"]["future_hybrid"].isna().all()
    assert set(frames["2021-11"]["future_hybrid"].dropna()) == {0.0, 1.0}
    # the panel id links waves
    assert set(frames["2021-11"]["resp_id"]) <= set(frames["2019"]["resp_id"])


def test_2019_codes_and_derived_hours(synthetic, codebook):
    frame, audit = harmonize_wave(synthetic["2019"], "2019", codebook)
    raw, _ = pyreadstat.read_sav(str(synthetic["2019"]), user_missing=True)
    assert audit["missing_codes"]["UBOS1"].keys() <= {"8", "9"}
    assert sum(audit["missing_codes"]["UBOS1"].values()) == int(raw["UBOS1"].isin([8, 9]).sum())
    # KANS 1 = ja, 2 = nee in 2019 -> 1/0
    assert (frame["kans_neck"].dropna().isin([0.0, 1.0])).all()
    assert frame["kans_neck"].eq(0).sum() == int(raw["KANS1"].eq(2).sum())
    ok = ~raw["ARBDUUR"].isin([98, 99]) & ~raw["THUISUUR"].isin([98, 99])
    expected = (raw["ARBDUUR"] - raw["THUISUUR"])[ok].to_numpy()
    np.testing.assert_array_equal(frame["hours_location"][ok.to_numpy()].to_numpy(), expected)
    assert frame["hours_location"][~ok.to_numpy()].isna().all()


def test_reads_only_mapped_columns(synthetic, codebook, monkeypatch):
    from neacovid.data import harmonize

    seen = []
    real = harmonize.read_data

    def spy(path, **kwargs):
        seen.append(kwargs.get("columns"))
        return real(path, **kwargs)

    # The SPSS reader runs in a child process: spy on the call that starts it.
    monkeypatch.setattr(harmonize, "read_data", spy)
    harmonize_wave(synthetic["2021-11"], "2021-11", codebook)
    data_reads = [cols for cols in seen if cols is not None]
    assert len(data_reads) == 1
    assert set(data_reads[0]) == set(codebook.wave("2021-11").file_variables)
    assert "opleiding" not in data_reads[0]


def test_inspect_file_lists_variables_and_fitting_mappings(synthetic, codebook):
    text = inspect_file(synthetic["2021-11"], codebook)
    assert "ophoogfactor" in text and "Ophoogfactor" in text
    assert "8 = weet niet" in text and "missing: 8, 9" in text
    lines = {line.split()[0]: line for line in text.splitlines() if line.startswith("  20")}
    assert "complete" in lines["2021-11"]
    assert "complete" not in lines["2019"]
    assert "opleiding" in text.split("not mapped in any wave:")[1]


# --------------------------------------------------------------------------- small hand-made files

SMALL = textwrap.dedent(
    """
    version: 1
    population: {age: [15, 74]}
    schema:
      resp_id: {type: id}
      stratum: {type: category}
      weight: {type: number, min: 0}
      age: {type: number}
      sex: {type: category, values: [male, female]}
      ee1: {type: number, values: [1, 2, 3, 4, 5, 6, 7]}
    waves:
      "w1":
        variables:
          panelid: resp_id
          ophoogfactor: weight
          leeftijd: age
          sector: stratum
          sekse: {target: sex, codes: {0: male, 1: female}}
          ee_1: ee1
    """
)


@pytest.fixture
def small_codebook(tmp_path):
    path = tmp_path / "small.yaml"
    path.write_text(SMALL, encoding="utf-8")
    return load_codebook(path)


def write_small(path, missing=True, **override):
    data = {
        "panelid": [101.0, 102.0, 103.0, 104.0, 105.0],
        "ophoogfactor": [1000.0, 1500.0, 1200.0, 900.0, 1100.0],
        "leeftijd": [30.0, 45.0, 80.0, 22.0, 60.0],
        "sector": ["G", "Q", "J", "G", "Q"],
        "sekse": [0.0, 1.0, 1.0, 5.0, 0.0],
        "ee_1": [2.0, 8.0, 9.0, 7.0, NA],
        "extra": [1.0, 2.0, 3.0, 4.0, 5.0],
    }
    data.update(override)
    pyreadstat.write_sav(
        pd.DataFrame(data),
        str(path),
        missing_ranges={"ee_1": [8, 9]} if missing else None,
        variable_value_labels={"ee_1": {1: "nooit", 7: "elke dag", 8: "weet niet"}},
    )
    return path


def test_small_file_codes_missing_and_exclusions(tmp_path, small_codebook):
    frame, audit = harmonize_wave(write_small(tmp_path / "w1.sav"), "w1", small_codebook)
    assert frame["resp_id"].tolist() == ["101", "102", "104", "105"]  # 103 is 80 years old
    assert audit["rows_read"] == 5 and audit["rows_kept"] == 4
    assert audit["rows_excluded"]["age_outside_15_74"] == 1
    assert audit["unmapped_codes"] == {"sekse": {"5": 1}}
    assert frame["sex"].tolist()[:2] == ["male", "female"] and pd.isna(frame["sex"][2])
    assert frame["ee1"].tolist()[0] == 2.0 and frame["ee1"].iloc[1:2].isna().all()
    assert audit["missing_codes"]["ee_1"] == {"8": 1, "9": 1}


def test_undeclared_missing_codes_are_counted_not_kept(tmp_path, small_codebook):
    frame, audit = harmonize_wave(
        write_small(tmp_path / "w1.sav", missing=False), "w1", small_codebook
    )
    assert frame["ee1"].max() <= 7
    assert audit["unmapped_codes"]["ee_1"] == {"8": 1, "9": 1}


def test_variable_names_match_case_insensitively(tmp_path, small_codebook):
    path = tmp_path / "upper.sav"
    df = pd.DataFrame(
        {
            "PANELID": [1.0, 2.0],
            "OPHOOGFACTOR": [1.0, 1.0],
            "LEEFTIJD": [30.0, 40.0],
            "SECTOR": ["A", "B"],
            "SEKSE": [0.0, 1.0],
            "EE_1": [1.0, 2.0],
        }
    )
    pyreadstat.write_sav(df, str(path))
    frame, _ = harmonize_wave(path, "w1", small_codebook)
    assert frame["ee1"].tolist() == [1.0, 2.0]


def test_missing_weight_stops_with_a_clear_message(tmp_path, small_codebook):
    path = write_small(tmp_path / "w1.sav", ophoogfactor=[1000.0, NA, 1200.0, 900.0, 1100.0])
    with pytest.raises(DataError, match=r"wave w1.*'ophoogfactor'.*missing for 1 respondent"):
        harmonize_wave(path, "w1", small_codebook)


def test_missing_weight_outside_the_population_is_fine(tmp_path, small_codebook):
    path = write_small(tmp_path / "w1.sav", ophoogfactor=[1000.0, 1500.0, NA, 900.0, 1100.0])
    _, audit = harmonize_wave(path, "w1", small_codebook)
    assert audit["rows_kept"] == 4


def test_zero_weight_is_an_exclusion(tmp_path, small_codebook):
    path = write_small(tmp_path / "w1.sav", ophoogfactor=[0.0, 1500.0, 1200.0, 900.0, 1100.0])
    _, audit = harmonize_wave(path, "w1", small_codebook)
    assert audit["rows_excluded"]["weight_zero"] == 1 and audit["rows_kept"] == 3


def test_duplicate_panel_ids(tmp_path, small_codebook):
    path = write_small(tmp_path / "w1.sav", panelid=[101.0, 102.0, 103.0, 102.0, 105.0])
    with pytest.raises(DataError, match=r"w1.*'panelid'.*duplicate.*102"):
        harmonize_wave(path, "w1", small_codebook)


def test_mapped_variable_absent(tmp_path, small_codebook):
    path = tmp_path / "w1.sav"
    df = pd.DataFrame(
        {
            "panelid": [1.0],
            "ophoogfactor": [1.0],
            "leeftijd": [30.0],
            "sector": ["A"],
            "sekse": [0.0],
        }
    )
    pyreadstat.write_sav(df, str(path))
    with pytest.raises(CodebookError, match=r"wave w1.*ee_1"):
        harmonize_wave(path, "w1", small_codebook)


def test_unknown_wave(tmp_path, small_codebook):
    with pytest.raises(CodebookError, match="'w9'"):
        harmonize_wave(write_small(tmp_path / "w1.sav"), "w9", small_codebook)


@pytest.mark.parametrize("kind", ["missing", "empty", "text", "truncated", "suffix"])
def test_bad_files_raise_input_file_error(tmp_path, small_codebook, kind):
    path = tmp_path / "w1.sav"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("panelid,weight\n1,2\n")
    elif kind == "truncated":
        full = write_small(tmp_path / "full.sav").read_bytes()
        path.write_bytes(full[: len(full) * 2 // 3])
    elif kind == "suffix":
        path = tmp_path / "w1.xlsx"
        path.write_text("x")
    with pytest.raises(InputFileError, match=str(path.name)):
        harmonize_wave(path, "w1", small_codebook)


def test_csv_input_uses_codebook_missing_codes(tmp_path):
    text = SMALL.replace("ee_1: ee1", "ee_1: {target: ee1, missing: [8, 9]}")
    cb = parse_codebook(__import__("yaml").safe_load(text), source="csv-codebook")
    path = tmp_path / "w1.csv"
    pd.DataFrame(
        {
            "panelid": [1, 2],
            "ophoogfactor": [1.0, 2.0],
            "leeftijd": [30, 40],
            "sector": ["A", "B"],
            "sekse": [0, 1],
            "ee_1": [8, 3],
        }
    ).to_csv(path, index=False)
    frame, audit = harmonize_wave(path, "w1", cb)
    assert np.isnan(frame["ee1"][0]) and frame["ee1"][1] == 3.0
    assert audit["missing_codes"] == {"ee_1": {"8": 1}}


# --------------------------------------------------------------------------- codebook errors


def bad(text: str, tmp_path) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    with pytest.raises(CodebookError) as err:
        load_codebook(path)
    return str(err.value)


def test_two_variables_one_target(tmp_path):
    msg = bad(SMALL + "      ee_1b: ee1\n", tmp_path)
    assert "'w1'" in msg and "'ee1'" in msg and "'ee_1'" in msg and "'ee_1b'" in msg


def test_target_not_in_schema(tmp_path):
    msg = bad(SMALL + "      uren: hours_home\n", tmp_path)
    assert "'w1'" in msg and "'uren'" in msg and "'hours_home'" in msg


def test_duplicate_codes(tmp_path):
    msg = bad(SMALL.replace("{0: male, 1: female}", "{0: male, 1: female, 1.0: male}"), tmp_path)
    assert "w1" in msg and "sekse" in msg and "twice" in msg


def test_duplicate_yaml_keys(tmp_path):
    msg = bad(SMALL + "      ee_1: ee1\n", tmp_path)
    assert "w1 > variables" in msg and "'ee_1'" in msg and "twice" in msg


def test_code_value_not_allowed_by_target(tmp_path):
    msg = bad(SMALL.replace("{0: male, 1: female}", "{0: man, 1: female}"), tmp_path)
    assert "'sekse'" in msg and "'man'" in msg and "'sex'" in msg


def test_extends_problems(tmp_path):
    assert "neither a template nor a wave" in bad(SMALL + '  "w2": {extends: covid}\n', tmp_path)
    assert "loops" in bad(SMALL + '  "w2": {extends: w3}\n  "w3": {extends: w2}\n', tmp_path)
    assert "does not inherit" in bad(SMALL + '  "w2": {extends: w1, drop: [nothere]}\n', tmp_path)


def test_extends_and_drop(tmp_path):
    path = tmp_path / "ok.yaml"
    path.write_text(
        SMALL + '  "w2": {extends: w1, drop: [ee_1], variables: {EE1_NEW: ee1}}\n',
        encoding="utf-8",
    )
    cb = load_codebook(path)
    assert cb.wave("w2").targets["ee1"] == "EE1_NEW"
    assert cb.wave("w2").targets["weight"] == "ophoogfactor"


def test_required_target_and_structure(tmp_path):
    assert "weight" in bad(SMALL.replace("      ophoogfactor: weight\n", ""), tmp_path)
    msg = bad(SMALL.replace("ee_1: ee1", "ee_1: {target: ee1, recode: {1: 1}}"), tmp_path)
    assert "waves/w1/variables/ee_1" in msg


# --------------------------------------------------------------------------- value labels


COVID_WAVE = "2021-11"


def write_covid(path, codebook, sekse, value_labels=None, **override):
    """A small COVID-19 wave file with every mapped variable: codes 1 (valid) unless given."""
    n = len(sekse)
    data = {var: [1.0] * n for var in codebook.wave(COVID_WAVE).file_variables}
    data.update(
        panelid=[float(101 + i) for i in range(n)],
        ophoogfactor=[1000.0] * n,
        leeftijd=[30.0 + i for i in range(n)],
        sector=[7.0] * n,
        sekse=[float(s) for s in sekse],
    )
    data.update(override)
    pyreadstat.write_sav(pd.DataFrame(data), str(path), variable_value_labels=value_labels or None)
    return path


def label_error(call, path, codebook) -> str:
    with pytest.raises(CodebookError) as err:
        call(path, COVID_WAVE, codebook)
    return str(err.value)


@pytest.mark.parametrize("call", [harmonize_wave, check_file], ids=["harmonize", "check_file"])
def test_r_factor_sex_codes_contradict_the_codebook_labels(tmp_path, codebook, call):
    # haven::write_sav(factor(c("man", "vrouw"))): 1 = man, 2 = vrouw; the codebook has
    # 0 = man (male), 1 = vrouw (female), so every man would silently become female.
    path = write_covid(
        tmp_path / "factor.sav", codebook, [1, 2, 1, 2], {"sekse": {1: "man", 2: "vrouw"}}
    )
    msg = label_error(call, path, codebook)
    assert "\n" not in msg
    assert msg.startswith(f"{path} (wave {COVID_WAVE}): the value labels of variable 'sekse'")
    assert str(CODEBOOK) in msg
    assert "code 0: no file label, codebook label 'man' (the file labels code 1 'man')" in msg
    assert (
        "code 1: file label 'man', codebook label 'vrouw' (the file labels code 2 'vrouw')" in msg
    )
    assert "fix 'codes' and 'labels' of 'sekse'" in msg and "recode the file" in msg


def test_swapped_labels_on_the_codebook_codes_stop(tmp_path, codebook):
    path = write_covid(
        tmp_path / "swapped.sav", codebook, [0, 1], {"sekse": {0: "vrouw", 1: "man"}}
    )
    msg = label_error(check_file, path, codebook)
    assert "code 0: file label 'vrouw', codebook label 'man' (the file labels code 1 'man')" in msg


def test_shifted_sector_codes_stop(tmp_path, codebook):
    # a factor of the sections present (no A) would put B on code 1
    labels = {1: "B Delfstoffenwinning", 2: "C Industrie", 7: "H Vervoer en opslag"}
    path = write_covid(tmp_path / "sector.sav", codebook, [0, 1], {"sector": labels})
    msg = label_error(harmonize_wave, path, codebook)
    assert "variable 'sector'" in msg
    assert "code 1: file label 'B Delfstoffenwinning', codebook label " in msg
    assert "'A Landbouw, bosbouw en visserij'" in msg
    assert "code 2: file label 'C Industrie', codebook label 'B Delfstoffenwinning' " in msg


def test_future_item_labels_are_checked(tmp_path, codebook):
    labels = {1: "nee, liever volledig op locatie", 2: "ja, combineren"}
    path = write_covid(tmp_path / "future.sav", codebook, [0, 1], {"toekomst_thuis": labels})
    msg = label_error(check_file, path, codebook)
    assert "variable 'toekomst_thuis'" in msg
    assert "code 1: file label 'nee, liever volledig op locatie', codebook label " in msg


def test_2019_sex_labels_are_checked(tmp_path, synthetic, codebook):
    frame, meta = pyreadstat.read_sav(str(synthetic["2019"]), user_missing=True)
    frame["geslacht"] = frame["geslacht"] - 1  # 0 = man, 1 = vrouw
    labels = dict(meta.variable_value_labels, geslacht={0: "man", 1: "vrouw"})
    path = tmp_path / "nea2019.sav"
    pyreadstat.write_sav(
        frame, str(path), variable_value_labels=labels, missing_ranges=meta.missing_ranges
    )
    with pytest.raises(CodebookError, match=r"wave 2019.*'geslacht'.*code 1: file label 'vrouw'"):
        check_file(path, "2019", codebook)


def test_matching_labels_compare_without_case_and_whitespace(tmp_path, codebook):
    labels = {
        "sekse": {0: "  MAN", 1: "Vrouw ", 2: "anders"},  # an extra code is no contradiction
        "toekomst_thuis": {1: "Ja,combineren", 8: "weet niet"},
        "sector": {7: "g  handel"},
    }
    path = write_covid(tmp_path / "ok.sav", codebook, [0, 1, 2], labels)
    check_file(path, COVID_WAVE, codebook)
    frame, audit = harmonize_wave(path, COVID_WAVE, codebook)
    assert frame["sex"].tolist()[:2] == ["male", "female"]
    assert audit["unmapped_codes"] == {"sekse": {"2": 1}}


def test_files_without_value_labels_are_not_checked(tmp_path, codebook):
    # nothing in the file says what 1/2 mean: the codes are read as the codebook's,
    # and the code it does not know is counted in the audit as before
    path = write_covid(tmp_path / "plain.sav", codebook, [1, 2, 1, 2])
    check_file(path, COVID_WAVE, codebook)
    frame, audit = harmonize_wave(path, COVID_WAVE, codebook)
    assert audit["unmapped_codes"] == {"sekse": {"2": 2}}
    # value labels for other codes only (a labelled "no answer") do not contradict either
    path = write_covid(tmp_path / "partial.sav", codebook, [0, 1], {"sekse": {9: "geen antwoord"}})
    check_file(path, COVID_WAVE, codebook)
    # nor does a CSV file, which has no value labels at all
    csv = tmp_path / "plain.csv"
    pyreadstat.read_sav(str(tmp_path / "plain.sav"))[0].to_csv(csv, index=False)
    check_file(csv, COVID_WAVE, codebook)
    harmonize_wave(csv, COVID_WAVE, codebook)


def test_synthetic_files_pass_the_label_check(synthetic, codebook):
    for wave, path in synthetic.items():
        check_file(path, wave, codebook)


def test_codebook_labels_only_for_known_codes(tmp_path):
    with_labels = SMALL.replace(
        "{0: male, 1: female}", "{0: male, 1: female}, missing: [9], labels: LABELS"
    )
    ok = parse_codebook(
        __import__("yaml").safe_load(with_labels.replace("LABELS", "{0: man, 9: onbekend}"))
    )
    assert dict(ok.wave("w1").variables["sekse"].labels) == {0.0: "man", 9.0: "onbekend"}
    msg = bad(with_labels.replace("LABELS", "{0: man, 2: vrouw}"), tmp_path)
    assert "'w1'" in msg and "'sekse'" in msg and "code 2" in msg and "'codes'" in msg
    msg = bad(SMALL.replace("ee_1: ee1", "ee_1: {target: ee1, labels: {1: nooit}}"), tmp_path)
    assert "'ee_1'" in msg and "code 1" in msg and "listed: none" in msg
    for wrong in ("{0: 1}", "{0: ''}", "{}", "[man, vrouw]"):  # not text, empty, not a mapping
        msg = bad(with_labels.replace("LABELS", wrong), tmp_path)
        assert "at waves/w1/variables/sekse:" in msg, wrong
