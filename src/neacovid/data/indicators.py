"""Indicators derived from the stacked, harmonised waves.

`derive` adds the analysis columns (burn-out, KANS, loneliness, physical
complaints, work location, age group) to the common-schema frame. The
definitions come from the ``indicators:`` section of config.yaml; `DEFAULT_SPEC`
holds the published TNO/CBS conventions, which config.yaml repeats (a test keeps
the two equal) and which the synthetic data generator is calibrated against.

The item-level rules are small array functions (`mean_flag`, `any_flag`,
`sum_flag`) so that the generator computes indicators exactly as the pipeline
does.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping

import numpy as np
import pandas as pd

from neacovid.errors import ConfigError, DataError

LOCATIONS = ("on_site", "hybrid", "home")

# The columns `derive` adds to the harmonised data.
DERIVED = ("burnout", "kans", "lonely", "physical", "location", "home_any", "age_group")

DEFAULT_SPEC: dict = {
    "burnout": {
        "items": ["ee1", "ee2", "ee3", "ee4", "ee5"],
        "cutoff": 3.20,
        "min_items": 4,
    },
    "kans": {
        "items": [
            "kans_neck",
            "kans_shoulder",
            "kans_upper_back",
            "kans_arm",
            "kans_elbow",
            "kans_wrist_hand",
        ],
        "min_items": 6,
    },
    "lonely": {
        "items": ["lonely1", "lonely2", "lonely3"],
        "cutoff": 6,
        "min_items": 3,
    },
    "physical": {
        "items": ["phys_back", "phys_hips", "phys_legs", "phys_feet"],
        "min_items": 4,
    },
    "location": {
        "hours_home": "hours_home",
        "hours_location": "hours_location",
    },
    "age_groups": ["15-24", "25-34", "35-44", "45-54", "55-64", "65-74"],
}

# Allowed keys per section; a value of None means the section is a list.
_SECTION_KEYS: dict[str, set[str] | None] = {
    "burnout": {"items", "cutoff", "min_items"},
    "kans": {"items", "min_items"},
    "lonely": {"items", "cutoff", "min_items"},
    "physical": {"items", "min_items"},
    "location": {"hours_home", "hours_location"},
    "age_groups": None,
}

# A mean of exactly the cut-off counts as "at or above" despite binary floats.
_EPS = 1e-9

_BAND = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*$")


def derive(stacked: pd.DataFrame, spec: Mapping | None = None) -> pd.DataFrame:
    """Return a copy of ``stacked`` with the indicator columns added.

    Added: ``burnout``, ``kans``, ``lonely``, ``physical``, ``home_any`` (floats
    0/1 with NaN), ``location`` ("on_site", "hybrid", "home" or NaN) and
    ``age_group`` (strings like "15-24" or NaN). ``spec`` is config.yaml's
    ``indicators:`` section; sections or keys left out take the defaults.
    """
    spec = resolve_spec(spec)
    out = stacked.copy()

    b = spec["burnout"]
    out["burnout"] = mean_flag(_items(stacked, b["items"], "burnout"), b["cutoff"], b["min_items"])
    k = spec["kans"]
    out["kans"] = any_flag(_items(stacked, k["items"], "kans"), k["min_items"])
    lo = spec["lonely"]
    out["lonely"] = sum_flag(_items(stacked, lo["items"], "lonely"), lo["cutoff"], lo["min_items"])
    p = spec["physical"]
    out["physical"] = any_flag(_items(stacked, p["items"], "physical"), p["min_items"])

    loc = spec["location"]
    hours = _items(stacked, [loc["hours_home"], loc["hours_location"]], "location")
    codes = location_codes(hours[:, 0], hours[:, 1])
    out["location"] = pd.Series(
        np.where(codes >= 0, np.asarray(LOCATIONS, dtype=object)[codes.clip(0)], None),
        index=stacked.index,
        dtype="str",
    )
    out["home_any"] = np.where(codes >= 0, (codes >= 1).astype(float), np.nan)

    if "age" not in stacked.columns:
        raise DataError("indicators: column 'age' is missing; harmonise the waves first")
    out["age_group"] = age_groups(
        _numeric(stacked["age"], "age"), spec["age_groups"], stacked.index
    )
    return out


# Columns carried from the baseline wave (the regular NEA the panel was drawn
# from) to every wave of the same respondent: the sampling stratum, and the
# 2019 status that cohort breakdowns and the attrition analysis fix people by.
BASELINE_COLUMNS = (
    "stratum",
    "sector",
    "sex",
    "age_group",
    "location",
    "home_any",
    "burnout",
    "kans",
    "lonely",
    "physical",
)
# Without a baseline record a respondent keeps their own wave's value of these
# (the design needs a stratum); the other baseline columns are missing.
BASELINE_FALLBACK = ("stratum",)


def baseline_name(column: str, baseline: str) -> str:
    """``stratum`` and ``2019`` -> ``stratum_2019`` (a column name in the analysis file)."""
    return f"{column}_{re.sub(r'[^0-9A-Za-z]', '_', str(baseline))}"


def carry_baseline(
    analysis: pd.DataFrame, baseline: pd.DataFrame, wave: str, columns=BASELINE_COLUMNS
) -> tuple[pd.DataFrame, int]:
    """Add ``<column>_<wave>``: each respondent's value in the baseline wave.

    Respondents of later waves who are not in the baseline file keep their
    own wave's stratum (`BASELINE_FALLBACK`) and have no other baseline value;
    they are counted (the second item returned): a panel of the baseline's
    respondents should have none.
    """
    out = analysis.copy()
    # each row's position in the baseline file (-1: not in it), found once
    position = pd.Index(baseline["resp_id"].astype(str)).get_indexer(out["resp_id"].astype(str))
    missing = pd.Series(position < 0, index=out.index)
    for column in columns:
        if column not in baseline.columns:
            continue
        carried = baseline[column].reset_index(drop=True).reindex(position)
        carried.index = out.index
        if column in BASELINE_FALLBACK:
            carried = carried.where(~missing, out[column])
        out[baseline_name(column, wave)] = carried
    return out, int(missing.sum())


def analysis_data(
    harmonized: list[pd.DataFrame],
    spec: Mapping | None,
    baseline: str | None = None,
    baseline_frame: pd.DataFrame | None = None,
) -> tuple[pd.DataFrame, int]:
    """The analysis file: the analysed waves stacked, indicators derived, the
    baseline's values carried (``baseline_frame``: the baseline wave's harmonised
    file when it is not among ``harmonized``). Returns it and the number of rows
    whose respondent is not in the baseline wave."""
    stacked = pd.concat(harmonized, ignore_index=True)
    analysis = derive(stacked, spec)
    if baseline is None:
        return analysis, 0
    if baseline_frame is None:
        base = analysis[analysis["wave"].astype(str) == str(baseline)]
    else:
        base = derive(baseline_frame, spec)
        base = base[base["wave"].astype(str) == str(baseline)]
    return carry_baseline(analysis, base, str(baseline))


def resolve_spec(spec: Mapping | None) -> dict:
    """Merge ``spec`` over `DEFAULT_SPEC`, rejecting unknown keys and bad values."""
    merged = copy.deepcopy(DEFAULT_SPEC)
    if spec is None:
        return merged
    if not isinstance(spec, Mapping):
        raise ConfigError(f"indicators: expected a mapping, got {type(spec).__name__}")
    for section, value in spec.items():
        if section not in _SECTION_KEYS:
            raise ConfigError(
                f"indicators: unknown key {section!r}; "
                f"known keys are {', '.join(sorted(_SECTION_KEYS))}"
            )
        allowed = _SECTION_KEYS[section]
        if allowed is None:
            merged[section] = value
            continue
        if not isinstance(value, Mapping):
            raise ConfigError(f"indicators.{section}: expected a mapping, got {value!r}")
        for key, item in value.items():
            if key not in allowed:
                raise ConfigError(
                    f"indicators.{section}: unknown key {key!r}; "
                    f"known keys are {', '.join(sorted(allowed))}"
                )
            merged[section][key] = item
    _check_spec(merged)
    return merged


def _check_spec(spec: dict) -> None:
    for section in ("burnout", "kans", "lonely", "physical"):
        s = spec[section]
        items = s["items"]
        if (
            not isinstance(items, list)
            or not items
            or not all(isinstance(i, str) for i in items)
            or len(set(items)) != len(items)
        ):
            raise ConfigError(
                f"indicators.{section}.items: expected a non-empty list of distinct "
                f"column names, got {items!r}"
            )
        m = s["min_items"]
        if isinstance(m, bool) or not isinstance(m, int) or not 1 <= m <= len(items):
            raise ConfigError(
                f"indicators.{section}.min_items: expected a whole number from 1 to "
                f"{len(items)} (the number of items), got {m!r}"
            )
        if "cutoff" in s and (
            isinstance(s["cutoff"], bool) or not isinstance(s["cutoff"], (int, float))
        ):
            raise ConfigError(
                f"indicators.{section}.cutoff: expected a number, got {s['cutoff']!r}"
            )
    for key, col in spec["location"].items():
        if not isinstance(col, str):
            raise ConfigError(f"indicators.location.{key}: expected a column name, got {col!r}")
    parse_bands(spec["age_groups"])


def parse_bands(bands) -> list[tuple[int, int, str]]:
    """Parse age bands like "15-24" into (low, high, label), checking order."""
    if not isinstance(bands, list) or not bands:
        raise ConfigError(
            f"indicators.age_groups: expected a list like ['15-24', '25-34'], got {bands!r}"
        )
    parsed = []
    for band in bands:
        match = _BAND.match(band) if isinstance(band, str) else None
        if not match or int(match.group(1)) > int(match.group(2)):
            raise ConfigError(
                f"indicators.age_groups: band {band!r} is not of the form 'low-high' (e.g. '15-24')"
            )
        low, high = int(match.group(1)), int(match.group(2))
        if parsed and low <= parsed[-1][1]:
            raise ConfigError(
                f"indicators.age_groups: band {band!r} overlaps or precedes {parsed[-1][2]!r}; "
                "list the bands in increasing, non-overlapping order"
            )
        parsed.append((low, high, f"{low}-{high}"))
    return parsed


def age_groups(age: np.ndarray, bands: list[str], index=None) -> pd.Series:
    """Label each age with its band ("15-24"); NaN outside every band."""
    labels = np.full(age.shape, None, dtype=object)
    whole = np.floor(age)
    for low, high, label in parse_bands(bands):
        labels[(whole >= low) & (whole <= high)] = label
    return pd.Series(labels, index=index, dtype="str")


def mean_flag(items: np.ndarray, cutoff: float, min_items: int) -> np.ndarray:
    """1.0 where the mean of the answered items is >= cutoff, NaN if too few answered."""
    answered = np.sum(~np.isnan(items), axis=1)
    with np.errstate(invalid="ignore"):
        mean = np.nansum(items, axis=1) / answered
    flag = (mean >= cutoff - _EPS).astype(float)
    flag[answered < min_items] = np.nan
    return flag


def sum_flag(items: np.ndarray, cutoff: float, min_items: int) -> np.ndarray:
    """1.0 where the scale sum is >= cutoff; with missing items the sum is prorated
    (mean x number of items); NaN if fewer than ``min_items`` were answered."""
    answered = np.sum(~np.isnan(items), axis=1)
    with np.errstate(invalid="ignore"):
        score = np.nansum(items, axis=1) / answered * items.shape[1]
    flag = (score >= cutoff - _EPS).astype(float)
    flag[answered < min_items] = np.nan
    return flag


def any_flag(items: np.ndarray, min_items: int) -> np.ndarray:
    """1.0 where any item is 1; 0.0 where none is and >= ``min_items`` were answered."""
    answered = np.sum(~np.isnan(items), axis=1)
    flag = np.where(np.any(items == 1, axis=1), 1.0, 0.0)
    flag[(flag == 0) & (answered < min_items)] = np.nan
    return flag


def location_codes(hours_home: np.ndarray, hours_location: np.ndarray) -> np.ndarray:
    """0 on_site, 1 hybrid, 2 home, -1 unknown (a value missing, or both zero)."""
    home = hours_home > 0
    loc = hours_location > 0
    codes = np.where(home & loc, 1, np.where(home, 2, np.where(loc, 0, -1)))
    codes[np.isnan(hours_home) | np.isnan(hours_location)] = -1
    return codes


def _items(frame: pd.DataFrame, columns: list[str], section: str) -> np.ndarray:
    absent = [c for c in columns if c not in frame.columns]
    if absent:
        raise DataError(
            f"indicators.{section}: column(s) {', '.join(absent)} not in the harmonised data; "
            "map them in the codebook or change the item list in config.yaml"
        )
    return (
        np.column_stack([_numeric(frame[c], c) for c in columns])
        if columns
        else np.empty((len(frame), 0))
    )


def _numeric(col: pd.Series, name: str) -> np.ndarray:
    try:
        return pd.to_numeric(col, errors="raise").to_numpy(dtype=float, na_value=np.nan)
    except (TypeError, ValueError):
        raise DataError(
            f"indicators: column {name!r} is not numeric (e.g. {col.dropna().iloc[0]!r}); "
            "check its codebook mapping"
        ) from None
