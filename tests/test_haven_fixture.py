"""A wave file written by R haven, not by our writer, through the codebook path.

tests/reference/data/haven_covid_2021_11.sav is made by
tests/reference/haven_fixture.R (haven 2.5.1, ``haven::write_sav`` with
``labelled_spss`` value labels and declared user-missing codes); it is checked
in, so these tests need no R. The script plants user-missing codes, codes the
codebook does not know and ages outside 15-74; the expected audit is computed
here from the raw file (``pyreadstat.read_sav(user_missing=True)``) and also
compared with the counts the script documents.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from neacovid.data.codebook import code_label, load_codebook
from neacovid.data.harmonize import harmonize_wave, inspect_file
from neacovid.data.indicators import derive

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "reference" / "data" / "haven_covid_2021_11.sav"
CODEBOOK = REPO / "workflow" / "codebook" / "nea_covid.yaml"
WAVE = "2021-11"
ITEMS = ["ee1", "ee2", "ee3", "ee4", "ee5", "lonely1", "lonely2", "lonely3"]

# What haven_fixture.R plants (its stopifnot checks the same numbers).
PLANTED_UNKNOWN = {"sekse": {"2": 2}, "eenzaam_2": {"5": 3}, "toekomst_thuis": {"0": 3}}
PLANTED_EXCLUDED = {"age_missing": 2, "age_outside_15_74": 5, "weight_zero": 1}


@pytest.fixture(scope="module")
def codebook():
    return load_codebook(CODEBOOK)


@pytest.fixture(scope="module")
def raw():
    """The file as stored: user-missing codes kept, and its SPSS metadata."""
    return pyreadstat.read_sav(str(FIXTURE), user_missing=True)


@pytest.fixture(scope="module")
def harmonised(codebook):
    return harmonize_wave(FIXTURE, WAVE, codebook)


def _declared(values: pd.Series, ranges) -> np.ndarray:
    """True where a value lies in one of the file's user-missing ranges."""
    x = values.to_numpy(dtype=float)
    hit = np.zeros(len(x), dtype=bool)
    for r in ranges:
        hit |= (x >= r["lo"]) & (x <= r["hi"])
    return hit


def _aligned(raw_frame: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """The raw rows of the kept respondents, in the order of the harmonised frame."""
    ids = raw_frame["panelid"].map(code_label)
    return raw_frame.set_index(ids).loc[frame["resp_id"]].reset_index(drop=True)


def _counts(values: pd.Series) -> dict[str, int]:
    return {code_label(float(k)): int(v) for k, v in values.value_counts().items()}


# --------------------------------------------------------------------------- the fixture itself


def test_fixture_is_a_small_haven_file_with_spss_metadata(raw, codebook):
    data, meta = raw
    assert FIXTURE.stat().st_size < 100_000
    head = FIXTURE.read_bytes()[:109]
    assert head[:4] == b"$FL2" and b"ReadStat" in head  # haven writes through ReadStat
    assert head[92:109] == b"01 Nov 2100:00:00"  # write time pinned by the script
    assert meta.number_rows == len(data) == 300
    for var in codebook.wave(WAVE).file_variables:
        assert var in meta.column_names
    # user-missing: discrete codes, a range and a range to HI (+inf)
    assert meta.missing_ranges["ee_1"] == [{"lo": 8.0, "hi": 8.0}, {"lo": 9.0, "hi": 9.0}]
    assert meta.missing_ranges["uren_thuis"] == [{"lo": 98.0, "hi": 99.0}]
    assert meta.missing_ranges["zituren"] == [{"lo": 98.0, "hi": np.inf}]
    assert meta.missing_ranges["leeftijd"] == [{"lo": 999.0, "hi": 999.0}]
    assert meta.variable_value_labels["sekse"] == {0.0: "man", 1.0: "vrouw", 2.0: "anders"}
    assert "geïsoleerd" in meta.column_names_to_labels["eenzaam_3"]
    # haven's default formats (our synth writes F1.0/F3.0/F12.4): integer -> F8.0,
    # double -> F8.2, character -> A<width>; no file label.
    assert meta.original_variable_types["panelid"] == "F8.0"
    assert meta.original_variable_types["ee_1"] == "F8.2"
    assert meta.original_variable_types["ophoogfactor"] == "F8.2"
    assert meta.original_variable_types["opmerking"].startswith("A")
    assert not meta.file_label
    # the planted user-missing codes are really there
    for var in ("ee_1", "uren_thuis", "uren_locatie", "zituren", "leeftijd", "toekomst_thuis"):
        assert _declared(data[var], meta.missing_ranges[var]).any(), var


def test_inspect_says_the_covid_mapping_matches(codebook):
    text = inspect_file(FIXTURE, codebook)
    assert "Format: SPSS .sav; 300 rows; 30 variables" in text
    assert "Label:" not in text  # haven writes no file label
    assert "Ophoogfactor naar de populatie" in text
    assert "missing: 8, 9" in text and "missing: 98 thru 99" in text
    assert "2 = anders" in text and "11 = K Financiële dienstverlening" in text
    fits = {
        line.split()[0]: line
        for line in text.split("wave mappings")[1].splitlines()
        if line.startswith("  ") and not line.startswith("  not mapped")
    }
    needed = len(codebook.wave(WAVE).file_variables)
    assert fits[WAVE].split()[1:] == [f"{needed}/{needed}", "complete"]
    assert "complete" not in fits["2019"]
    # every COVID-19 wave shares the questionnaire, so all of them fit
    assert all("complete" in fits[w] for w in codebook.waves if w != "2019")
    unused = text.split("not mapped in any wave:")[1].split()
    assert [u.rstrip(",") for u in unused] == ["meting", "opleiding", "opmerking"]


# --------------------------------------------------------------------------- harmonisation


def test_harmonises_to_the_common_schema(harmonised, raw, codebook):
    frame, audit = harmonised
    data, _ = raw
    assert list(frame.columns) == [
        "resp_id",
        "wave",
        *[t for t in codebook.schema if t != "resp_id"],
    ]
    assert (frame["wave"] == WAVE).all()
    assert audit["rows_read"] == len(data) == 300
    assert audit["rows_kept"] == len(frame)
    assert audit["rows_read"] == audit["rows_kept"] + sum(audit["rows_excluded"].values())
    assert audit["not_mapped"] == []
    json.dumps(audit)  # the pipeline writes it as <wave>.audit.json
    # the numeric (F8.0) panel id becomes text without ".0"
    assert frame["resp_id"].str.fullmatch(r"\d{6}").all() and frame["resp_id"].is_unique
    kept = _aligned(data, frame)
    np.testing.assert_array_equal(frame["weight"].to_numpy(), kept["ophoogfactor"].to_numpy())
    np.testing.assert_array_equal(frame["age"].to_numpy(), kept["leeftijd"].to_numpy())
    assert frame["age"].between(15, 74).all() and (frame["weight"] > 0).all()


def test_declared_user_missing_values_became_na(harmonised, raw, codebook):
    frame, audit = harmonised
    data, meta = raw
    plain, _ = pyreadstat.read_sav(str(FIXTURE))  # user-missing -> NaN by pyreadstat
    kept = _aligned(data, frame)
    kept_plain = plain.set_index(plain["panelid"].map(code_label)).loc[frame["resp_id"]]
    checked = 0
    for var, vm in codebook.wave(WAVE).variables.items():
        ranges = meta.missing_ranges.get(var, [])
        # the audit counts every declared code met, over all rows read
        assert audit["missing_codes"].get(var, {}) == _counts(
            data[var][_declared(data[var], ranges)]
        ), var
        declared = _declared(kept[var], ranges)
        assert declared.sum() == (kept_plain[var].isna().to_numpy() & kept[var].notna()).sum()
        for target in vm.targets:
            assert frame[target][declared].isna().all(), (var, target)
            checked += int(declared.sum())
        # and none of the codes survives as a value
        values = frame[vm.targets[0]].dropna()
        if ranges and values.dtype.kind == "f":
            assert not _declared(values, ranges).any(), var
    assert checked > 50
    assert audit["missing_codes"]["zituren"].keys() <= {"98", "99"}  # 98 thru HI
    assert frame["hours_home"].max() < 98 and frame["sitting_hours"].max() < 98


def test_labelled_codes_map_to_the_schema_values(harmonised, raw):
    frame, _ = harmonised
    data, meta = raw
    kept = _aligned(data, frame)
    # sex: the file's value labels man/vrouw are the codebook's 0 -> male, 1 -> female
    sex_label = kept["sekse"].map(meta.variable_value_labels["sekse"])
    assert (frame["sex"][sex_label == "man"] == "male").all()
    assert (frame["sex"][sex_label == "vrouw"] == "female").all()
    assert frame["sex"][sex_label == "anders"].isna().all()
    assert set(frame["sex"].dropna()) == {"male", "female"}
    # sector code k -> SBI letter, which is the first letter of the file's label
    letter = kept["sector"].map(meta.variable_value_labels["sector"]).str[0]
    assert (frame["sector"] == letter).all() and (frame["stratum"] == frame["sector"]).all()
    assert frame["sector"].str.fullmatch("[A-S]").all()
    # future preference 1 -> 1, 2/3 -> 0; 0 (not in the codebook), 8/9 and blank -> NA
    future = kept["toekomst_thuis"]
    assert (frame["future_hybrid"][future == 1] == 1).all()
    assert (frame["future_hybrid"][future.isin([2, 3])] == 0).all()
    assert frame["future_hybrid"][~future.isin([1, 2, 3])].isna().all()
    assert set(frame["future_hybrid"].dropna()) == {0.0, 1.0}
    # items and hours without codes keep their (valid) values, half hours too
    pairs = [(f"ee_{i}", f"ee{i}") for i in range(1, 6)]
    pairs += [(f"eenzaam_{i}", f"lonely{i}") for i in range(1, 4)]
    pairs += [("kans_nek", "kans_neck"), ("fys_rug", "phys_back")]
    pairs += [("uren_thuis", "hours_home"), ("uren_locatie", "hours_location")]
    pairs += [("zituren", "sitting_hours")]
    for var, target in pairs:
        ok = frame[target].notna()
        np.testing.assert_array_equal(frame[target][ok], kept[var][ok], err_msg=var)
    assert set(np.unique(frame[ITEMS[:5]].stack().dropna())) <= set(range(1, 8))
    assert set(np.unique(frame[ITEMS[5:]].stack().dropna())) <= {1.0, 2.0, 3.0}
    assert (frame["hours_home"] % 1 == 0.5).any()


def test_audit_counts_unknown_codes_and_excluded_ages(harmonised, raw, codebook):
    _, audit = harmonised
    data, meta = raw
    expected = {}
    for var, vm in codebook.wave(WAVE).variables.items():
        target = codebook.schema[vm.targets[0]]
        x = data[var].dropna()
        x = x[~_declared(x, meta.missing_ranges.get(var, []))]
        if vm.codes is not None:
            bad = ~x.isin(list(vm.codes))
        elif target.values is not None:
            bad = ~x.isin(list(target.values))
        elif target.type == "number":
            bad = (x < (target.min if target.min is not None else -np.inf)) | (
                x > (target.max if target.max is not None else np.inf)
            )
        else:
            continue
        if bad.any():
            expected[var] = _counts(x[bad])
    assert audit["unmapped_codes"] == expected == PLANTED_UNKNOWN

    age = data["leeftijd"]
    age_missing = age == 999  # declared user-missing
    outside = ~age_missing & ((age < 15) | (age > 74))
    weight_zero = ~age_missing & ~outside & (data["ophoogfactor"] == 0)
    from_raw = {
        "age_missing": int(age_missing.sum()),
        "age_outside_15_74": int(outside.sum()),
        "weight_zero": int(weight_zero.sum()),
    }
    assert audit["rows_excluded"] == from_raw == PLANTED_EXCLUDED
    assert audit["missing_codes"]["leeftijd"] == {"999": 2}
    assert audit["rows_read"] == audit["rows_kept"] + sum(audit["rows_excluded"].values())
    assert audit["rows_kept"] == 300 - 8


# --------------------------------------------------------------------------- indicators


def test_indicators_from_the_haven_file_are_plausible(harmonised):
    frame, _ = harmonised
    out = derive(frame)
    w = out["weight"].to_numpy()
    for name in ("burnout", "kans", "lonely", "physical", "home_any"):
        flag = out[name]
        assert set(flag.dropna()) == {0.0, 1.0}, name
        ok = flag.notna().to_numpy()
        assert ok.mean() > 0.9, name
        share = np.average(flag[ok], weights=w[ok])
        assert 0.05 < share < 0.6, (name, share)
    # location from the hours, with NA hours (98/99 declared) or a week without hours unknown
    home, loc = frame["hours_home"], frame["hours_location"]
    expected = np.select(
        [home.isna() | loc.isna(), (home > 0) & (loc > 0), home > 0, loc > 0],
        [None, "hybrid", "home", "on_site"],
        default=None,
    )
    assert out["location"].fillna("?").tolist() == pd.Series(expected).fillna("?").tolist()
    assert set(out["location"].dropna()) == {"on_site", "hybrid", "home"}
    assert out["location"].isna().sum() == int((home.isna() | loc.isna()).sum()) + int(
        ((home == 0) & (loc == 0)).sum()
    )
    assert ((home == 0) & (loc == 0)).any() and (home.isna() | loc.isna()).any()
    home_any = out["location"].map({"on_site": 0.0, "hybrid": 1.0, "home": 1.0})
    pd.testing.assert_series_equal(out["home_any"], home_any, check_names=False)
    assert out["age_group"].notna().all()
    # the future item was asked of those who worked (partly) at home
    assert out["future_hybrid"][home.fillna(0) == 0].isna().all()


def test_zero_padded_text_ids_link_to_numeric_ids(tmp_path):
    """An id written as text with leading zeros is the same person as the number."""
    frame, meta = pyreadstat.read_sav(str(FIXTURE), user_missing=True)
    id_column = next(c for c in frame.columns if c.lower() == "panelid")
    padded = frame.assign(**{id_column: frame[id_column].map(lambda v: f"{int(v):09d}")})
    path = tmp_path / "padded.sav"
    pyreadstat.write_sav(padded, str(path), missing_ranges=meta.missing_ranges)
    numeric, _ = harmonize_wave(FIXTURE, "2021-11", CODEBOOK)
    text, _ = harmonize_wave(path, "2021-11", CODEBOOK)
    assert list(text["resp_id"]) == list(numeric["resp_id"])


def test_strict_mode_stops_on_unknown_codes():
    from neacovid.errors import CodebookError

    with pytest.raises(CodebookError, match=r"haven_covid_2021_11.sav \(wave 2021-11\).*strict"):
        harmonize_wave(FIXTURE, "2021-11", CODEBOOK, strict=True)
