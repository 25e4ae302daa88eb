"""neacovid.data.synth: real .sav files, SPSS conventions, panel, determinism, calibration."""

from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest

from neacovid.data import synth
from neacovid.data.codebook import load_codebook
from neacovid.data.harmonize import harmonize_wave
from neacovid.data.indicators import derive
from neacovid.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
WAVES = pd.read_csv(REPO / "data" / "reference" / "waves.csv", dtype={"wave": str})
PUBLISHED = pd.read_csv(REPO / "data" / "reference" / "published_figures.csv", dtype={"wave": str})
SCALE = 0.05


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    return synth.write_waves(tmp_path_factory.mktemp("small"), seed=11, scale=SCALE)


def read(path, **kwargs):
    return pyreadstat.read_sav(str(path), user_missing=True, **kwargs)


def test_one_file_per_wave_with_the_scaled_size(small):
    assert list(small) == WAVES["wave"].tolist()
    for row in WAVES.itertuples():
        assert small[row.wave].name == f"{row.wave}.sav"
        _, meta = read(small[row.wave], metadataonly=True)
        assert meta.number_rows == round(row.respondents * SCALE)


def test_same_seed_same_bytes_other_seed_other_bytes(small, tmp_path):
    again = synth.write_waves(tmp_path / "again", seed=11, scale=SCALE)
    other = synth.write_waves(tmp_path / "other", seed=12, scale=SCALE)
    for wave, path in small.items():
        assert again[wave].read_bytes() == path.read_bytes()
        assert other[wave].read_bytes() != path.read_bytes()
    # the header date is the fieldwork start, not the time of writing
    assert small["2021-11"].read_bytes()[92:109] == b"01 Nov 2100:00:00"


def test_spss_conventions(small):
    df19, m19 = read(small["2019"])
    df21, m21 = read(small["2021-11"])
    # names differ between 2019 and the COVID-19 files, as in the real data
    assert {"UBOS1", "gewicht", "lftd", "respnr"} <= set(df19.columns)
    assert {"ee_1", "ophoogfactor", "leeftijd", "panelid"} <= set(df21.columns)
    assert not {"UBOS1", "gewicht", "lftd"} & set(df21.columns)
    # codes differ too
    assert set(df19["geslacht"]) == {1.0, 2.0} and set(df21["sekse"]) == {0.0, 1.0}
    # Dutch labels, declared user-missing codes that do occur
    assert m21.variable_value_labels["ee_1"][7.0] == "elke dag"
    assert m21.variable_value_labels["ee_1"][8.0] == "weet niet"
    assert m19.column_names_to_labels["lftd"] == "Leeftijd in jaren"
    assert m21.missing_ranges["ee_1"] == [{"lo": 8.0, "hi": 8.0}, {"lo": 9.0, "hi": 9.0}]
    assert m21.missing_ranges["uren_thuis"] == [{"lo": 98.0, "hi": 98.0}, {"lo": 99.0, "hi": 99.0}]
    assert df21["ee_1"].isin([8, 9]).any() and df19["UBOS1"].isin([8, 9]).any()
    assert df19["THUISUUR"].isin([98, 99]).any()
    valid = df19["UBOS1"][~df19["UBOS1"].isin([8, 9])].dropna()
    assert set(valid) == set(range(1, 8))
    # the future item exists only from the second COVID-19 wave on
    assert "toekomst_thuis" not in read(small["2020-06"], metadataonly=True)[1].column_names
    assert "toekomst_thuis" in df21.columns
    assert df19["SBI2008"].nunique() == 19


def test_panel_and_weights(small):
    ids19 = read(small["2019"], usecols=["respnr"])[0]["respnr"]
    assert ids19.is_unique
    for row in WAVES.iloc[1:].itertuples():
        df, _ = read(small[row.wave], usecols=["panelid", "ophoogfactor", "leeftijd"])
        assert df["panelid"].is_unique
        assert set(df["panelid"]) <= set(ids19)
        assert 7.5e6 <= df["ophoogfactor"].sum() <= 8.1e6
        assert (df["ophoogfactor"] > 0).all()
    w19 = read(small["2019"], usecols=["gewicht", "lftd"])[0]
    assert 7.5e6 <= w19["gewicht"].sum() <= 8.1e6
    # young people are oversampled and weighted down
    young = w19["lftd"] < 25
    assert young.mean() > 0.2
    assert w19["gewicht"][young].sum() / w19["gewicht"].sum() < 0.17


def test_scale_and_waves_csv_checks(tmp_path):
    with pytest.raises(ConfigError, match="scale"):
        synth.write_waves(tmp_path, scale=0.0001)
    two = tmp_path / "waves.csv"
    WAVES.iloc[[0, 4]].to_csv(two, index=False)
    paths = synth.write_waves(tmp_path / "two", scale=0.02, waves_csv=two)
    assert sorted(paths) == ["2019", "2021-11"]


# --------------------------------------------------------------------------- calibration


@pytest.fixture(scope="module")
def full_scale(tmp_path_factory):
    """The default synthetic data (default seed, scale 1), harmonised and derived."""
    paths = synth.write_waves(tmp_path_factory.mktemp("full"))
    codebook = load_codebook(REPO / "workflow" / "codebook" / "nea_covid.yaml")
    frames = [harmonize_wave(p, wave, codebook)[0] for wave, p in paths.items()]
    return derive(pd.concat(frames, ignore_index=True))


def weighted_share(data: pd.DataFrame, var: str, category) -> tuple[float, float]:
    """Weighted share and an approximate SE, sqrt(p(1-p)/n_eff) with Kish's n_eff."""
    values = data[var].dropna()
    w = data.loc[values.index, "weight"].to_numpy()
    hit = (
        (values.astype(str) == str(category))
        if values.dtype == object or isinstance(values.dtype, pd.StringDtype)
        else (values == float(category))
    )
    p = float(np.dot(w, hit.to_numpy(dtype=float)) / w.sum())
    n_eff = w.sum() ** 2 / np.sum(w**2)
    return p, float(np.sqrt(p * (1 - p) / n_eff))


POPULATIONS = {
    "employees": lambda d: d,
    "home_any workers": lambda d: d[d["home_any"] == 1],
    "on_site workers": lambda d: d[d["location"] == "on_site"],
}


@pytest.mark.parametrize("row", PUBLISHED.to_dict("records"), ids=PUBLISHED["id"].tolist())
def test_published_figures_are_reproduced(full_scale, row):
    wave = full_scale[full_scale["wave"] == row["wave"]]
    p, se = weighted_share(POPULATIONS[row["population"]](wave), row["indicator"], row["category"])
    target = row["value_pct"] / 100
    assert abs(p - target) < se / 3, f"{row['id']}: {100 * p:.2f}% vs {row['value_pct']}%"


def test_young_on_location_fare_worse_late_2021(full_scale):
    late = full_scale[(full_scale["wave"] == "2021-11") & (full_scale["location"] == "on_site")]
    young = late[late["age_group"] == "15-24"]
    older = late[late["age_group"] != "15-24"]
    assert weighted_share(young, "burnout", 1)[0] > weighted_share(older, "burnout", 1)[0] + 0.05
    earlier = full_scale[
        (full_scale["wave"] == "2021-03") & full_scale["resp_id"].isin(young["resp_id"])
    ]
    assert weighted_share(young, "burnout", 1)[0] > weighted_share(earlier, "burnout", 1)[0]


def test_complaints_persist_within_people(full_scale):
    a = full_scale[full_scale["wave"] == "2021-03"]
    b = full_scale[full_scale["wave"] == "2021-11"]
    both = a.merge(b, on="resp_id", suffixes=("_a", "_b"))
    for var in ("burnout", "kans", "lonely", "physical"):
        assert both[f"{var}_a"].corr(both[f"{var}_b"]) > 0.2
