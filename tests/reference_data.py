"""The R reference results in tests/reference, read the same way by every test
that compares neacovid with R survey (test_reference_r, test_compare,
test_models).

pytest puts this directory on ``sys.path`` (default import mode, no
``__init__.py``), so the tests import this module as ``reference_data``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pandas as pd

from neacovid.survey.design import Design

REFERENCE = Path(__file__).parent / "reference"
# Every reference row names its case, its data file and its design.
ROW_TEXT = ["case", "data", "weight", "strata", "psu", "fpc", "lonely_psu", "calibration"]


def read_reference(name: str, text: Iterable[str] = ()) -> pd.DataFrame:
    """tests/reference/<name>, a CSV of results written by an R script.

    Only "" and "NaN" are missing values (a level such as "NA" stays a
    string); the columns of `ROW_TEXT` and ``text`` that the file has are read
    as strings, a missing one as "".
    """
    text = [*ROW_TEXT, *text]
    frame = pd.read_csv(
        REFERENCE / name,
        keep_default_na=False,
        na_values=["", "NaN"],
        dtype={c: str for c in text},
    )
    for c in text:
        if c in frame:
            frame[c] = frame[c].fillna("")
    return frame


@cache
def read_data(stem: str) -> pd.DataFrame:
    """tests/reference/data/<stem>.csv, the data R estimated on.

    Read once per session and shared by all tests: copy before changing it.
    """
    return pd.read_csv(REFERENCE / "data" / f"{stem}.csv")


def design_from_row(row) -> Design:
    """The design a reference row names (empty design columns: none)."""
    calibration = getattr(row, "calibration", "") or ""
    return Design(
        weight=row.weight,
        strata=row.strata or None,
        psu=row.psu or None,
        fpc=row.fpc or None,
        lonely_psu=row.lonely_psu or "fail",
        calibration=tuple(t for t in calibration.split(",") if t),
    )


def r_term(term: str) -> str:
    """patsy ``C(location)[T.hybrid]:hours`` -> R ``locationhybrid:hours``."""
    if term == "Intercept":
        return "(Intercept)"
    parts = []
    for part in term.split(":"):
        m = re.fullmatch(r"C\((\w+)\)\[T\.(.+)\]", part)
        parts.append(m.group(1) + m.group(2) if m else part)
    return ":".join(parts)
