"""neacovid.data.indicators: item rules, location, age groups, spec checking."""

from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from neacovid.data.indicators import DEFAULT_SPEC, derive
from neacovid.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[1]
NA = np.nan


def frame(**cols) -> pd.DataFrame:
    """A harmonised-like frame; unspecified item columns hold "no complaint"."""
    n = len(next(iter(cols.values())))
    base = {
        "age": [40.0] * n,
        "hours_home": [0.0] * n,
        "hours_location": [36.0] * n,
        **{c: [1.0] * n for c in DEFAULT_SPEC["burnout"]["items"]},
        **{c: [0.0] * n for c in DEFAULT_SPEC["kans"]["items"]},
        **{c: [1.0] * n for c in DEFAULT_SPEC["lonely"]["items"]},
        **{c: [0.0] * n for c in DEFAULT_SPEC["physical"]["items"]},
    }
    base.update(cols)
    return pd.DataFrame(base)


def ee(*rows) -> dict:
    return {f"ee{i + 1}": [r[i] for r in rows] for i in range(5)}


def test_burnout_cutoff_and_min_items():
    out = derive(
        frame(
            **ee(
                (3, 3, 3, 3, 4),  # mean exactly 3.20 -> complaint
                (3, 3, 3, 3, 3),  # 3.0 -> none
                (7, 7, 7, NA, NA),  # 3 answered -> missing
                (4, 4, 3, 2, NA),  # 4 answered, mean 3.25 -> complaint
                (1, 1, 1, 1, NA),
            )
        )
    )
    assert out["burnout"].tolist()[:2] == [1.0, 0.0]
    assert np.isnan(out["burnout"][2])
    assert out["burnout"].tolist()[3:] == [1.0, 0.0]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.lists(st.one_of(st.integers(1, 7), st.none()), min_size=5, max_size=5),
        min_size=1,
        max_size=20,
    )
)
def test_burnout_matches_exact_arithmetic(rows):
    items = [[NA if v is None else float(v) for v in r] for r in rows]
    out = derive(frame(**ee(*items)))["burnout"].to_numpy()
    for got, row in zip(out, rows, strict=True):
        answered = [v for v in row if v is not None]
        if len(answered) < 4:
            assert np.isnan(got)
        else:
            assert got == float(Fraction(sum(answered), len(answered)) >= Fraction(16, 5))


def test_any_item_rules_for_kans_and_physical():
    kans = DEFAULT_SPEC["kans"]["items"]
    rows = [
        [1, NA, NA, NA, NA, NA],  # a complaint counts even with items missing
        [0, 0, 0, 0, 0, 0],
        [0, 0, 0, 0, 0, NA],  # no complaint but not all answered -> missing
    ]
    cols = {c: [r[i] for r in rows] for i, c in enumerate(kans)}
    out = derive(frame(**cols))
    assert out["kans"].tolist()[:2] == [1.0, 0.0]
    assert np.isnan(out["kans"][2])
    lenient = derive(frame(**cols), {"kans": {"min_items": 5}})
    assert lenient["kans"].tolist() == [1.0, 0.0, 0.0]
    phys = derive(frame(phys_legs=[1.0, 0.0, 0.0]))["physical"]
    assert phys.tolist() == [1.0, 0.0, 0.0]


def test_lonely_sum_score_and_proration():
    rows = {
        "lonely1": [2, 2, 3, 3],
        "lonely2": [2, 2, 3, NA],
        "lonely3": [2, 1, NA, NA],
    }
    out = derive(frame(**rows))
    assert out["lonely"].tolist()[:2] == [1.0, 0.0]  # sums 6 and 5
    assert np.isnan(out["lonely"][2]) and np.isnan(out["lonely"][3])
    prorated = derive(frame(**rows), {"lonely": {"min_items": 2}})["lonely"]
    assert prorated.tolist()[2] == 1.0  # (3 + 3) / 2 * 3 = 9
    assert np.isnan(prorated[3])
    stricter = derive(frame(**rows), {"lonely": {"cutoff": 7}})["lonely"]
    assert stricter.tolist()[:2] == [0.0, 0.0]


def test_location_and_home_any():
    out = derive(
        frame(
            hours_home=[0, 10, 40, 0, NA, 5, 0],
            hours_location=[40, 30, 0, 0, 30, NA, NA],
        )
    )
    assert out["location"].iloc[:3].tolist() == ["on_site", "hybrid", "home"]
    assert out["location"].iloc[3:].isna().all()
    assert out["home_any"].iloc[:3].tolist() == [0.0, 1.0, 1.0]
    assert out["home_any"].iloc[3:].isna().all()


def test_age_groups_default_and_configured():
    ages = [15, 24, 24.9, 25, 74, 75, 14, NA]
    out = derive(frame(age=ages))["age_group"]
    assert out.iloc[:5].tolist() == ["15-24", "15-24", "15-24", "25-34", "65-74"]
    assert out.iloc[5:].isna().all()
    wide = derive(frame(age=ages), {"age_groups": ["15-34", "35-74"]})["age_group"]
    assert wide.iloc[:5].tolist() == ["15-34", "15-34", "15-34", "15-34", "35-74"]


def test_input_is_not_modified_and_other_columns_pass_through():
    data = frame(future_hybrid=[1.0, NA, 0.0], sitting_hours=[6.0, 2.0, NA])
    before = data.copy()
    out = derive(data)
    pd.testing.assert_frame_equal(data, before)
    pd.testing.assert_series_equal(out["future_hybrid"], data["future_hybrid"])
    pd.testing.assert_series_equal(out["sitting_hours"], data["sitting_hours"])


@pytest.mark.parametrize(
    "spec, key",
    [
        ({"burnot": {}}, "burnot"),
        ({"burnout": {"cut_off": 3.2}}, "cut_off"),
        ({"location": {"home": "hours_home"}}, "home"),
    ],
)
def test_unknown_keys_are_named(spec, key):
    with pytest.raises(ConfigError, match=repr(key)):
        derive(frame(age=[30.0]), spec)


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ({"burnout": {"min_items": 6}}, "min_items"),
        ({"burnout": {"cutoff": "high"}}, "cutoff"),
        ({"kans": {"items": []}}, "items"),
        ({"age_groups": ["15-24", "20-30"]}, "overlaps"),
        ({"age_groups": ["young"]}, "low-high"),
    ],
)
def test_bad_values_raise_config_error(spec, fragment):
    with pytest.raises(ConfigError, match=fragment):
        derive(frame(age=[30.0]), spec)


def test_missing_item_column_is_a_data_error():
    data = frame(age=[30.0]).drop(columns="ee3")
    with pytest.raises(DataError, match="ee3"):
        derive(data)


def test_config_yaml_repeats_the_defaults():
    config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    assert config["indicators"] == DEFAULT_SPEC
