"""Panel transitions: where the same people are in one wave given where they were before.

The NEA COVID-19 waves re-interview the same people (``resp_id`` is stable
across waves), so movement between work locations, or in and out of burn-out
complaints, can be followed person by person. `transitions` gives the weighted
transition table of a variable between two waves: for every category in the
first wave (the origin), the distribution over the categories in the second
wave (the destination), with design-based standard errors and intervals.
`linkage` counts who that table uses and who it leaves out.

How it is estimated (R: merge the first wave's value onto the second wave's
rows, then ``svyby(~to, ~from, subset(des, linked), svyciprop)``): the origin
is attached to each person's row of ``to_wave`` as a domain variable, and
`neacovid.survey.estimate.shares` estimates the destination shares within each origin
domain on the full design. Rows are never dropped: persons observed in one of
the two waves only, or with a missing value in either, are simply not domain
members, so the design (strata, PSUs, degrees of freedom) stays that of the
whole analysis file.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from neacovid.errors import DataError
from neacovid.survey.design import BoundDesign, Design
from neacovid.survey.estimate import shares

TRANSITION_COLUMNS = [
    "variable",
    "from_wave",
    "to_wave",
    "from_category",
    "to_category",
    "estimate",
    "se",
    "ci_low",
    "ci_high",
    "n",
    "n_cell",
    "weighted_n",
    "deff",
    "df",
    "level",
    "ci_method",
]
LINKAGE_STATUSES = ("used", "missing_from", "missing_to", "only_from", "only_to")

_ORIGIN = "__from_category__"


def transitions(
    data: pd.DataFrame,
    design: Design | BoundDesign,
    var: str,
    from_wave: str,
    to_wave: str,
    id: str = "resp_id",  # the panel id column (stable across waves)
    wave: str = "wave",
    ci: str = "logit",
    level: float = 0.95,
) -> pd.DataFrame:
    """Weighted transition table of ``var`` from ``from_wave`` to ``to_wave``.

    One row per origin x destination category (every category of ``var`` on
    both sides, also where nobody is): ``estimate`` is the weighted share of
    the persons in ``from_category`` in ``from_wave`` who are in
    ``to_category`` in ``to_wave`` (the rows of one origin sum to 1), with
    ``se``, ``ci_low``, ``ci_high``, ``deff`` and ``df`` as in
    `neacovid.survey.estimate.shares` (CI method ``ci``). ``n`` is the number of
    persons in the origin row (observed in both waves, ``var`` known in both)
    and ``n_cell`` the number of them in the cell; an origin without persons
    has ``n = 0`` and no estimates.

    Which weight: the rows of ``to_wave`` carry the estimate, with their
    weight, stratum and PSU. With ``to_wave`` the later wave that is the
    later wave's weight, the usual choice for persons present in both waves:
    the later wave was weighted to the population on its re-interviewed
    respondents, so its weights correct for the attrition between the waves.
    It is not a longitudinal weight; if the survey supplies one, put it in
    the design's weight column of the ``to_wave`` rows.

    Persons in only one of the two waves, or with ``var`` missing in either,
    are not in any domain (see `linkage` for how many). A person (``id``)
    may appear once per wave.
    """
    from_rows, to_rows = _wave_rows(data, var, from_wave, to_wave, id, wave)
    origin = _origin(data, var, from_rows, to_rows, id)

    columns = list(dict.fromkeys([*_design_of(design).columns, var]))
    frame = data.loc[:, columns].copy()
    if _ORIGIN in frame.columns:  # pragma: no cover - a reserved name
        raise DataError(f"column name {_ORIGIN!r} is reserved; rename it")
    frame[_ORIGIN] = origin
    table = shares(frame, design, var, by=_ORIGIN, ci=ci, level=level)
    table = table.rename(columns={_ORIGIN: "from_category", "category": "to_category"})

    categories = _categories(data[var])
    grid = pd.MultiIndex.from_product(
        [categories, categories], names=["from_category", "to_category"]
    ).to_frame(index=False)
    linked = to_rows & origin.notna().to_numpy() & data[var].notna().to_numpy()
    cells = (
        pd.DataFrame(
            {"from_category": origin[linked].to_numpy(), "to_category": data.loc[linked, var]}
        )
        .groupby(["from_category", "to_category"], sort=False, observed=True)
        .size()
        .rename("n_cell")
        .reset_index()
    )
    out = grid.merge(_plain(table), on=["from_category", "to_category"], how="left")
    out = out.merge(_plain(cells), on=["from_category", "to_category"], how="left")
    out["n"] = out["n"].fillna(0).astype(np.int64)
    out["n_cell"] = out["n_cell"].fillna(0).astype(np.int64)
    out["weighted_n"] = out["weighted_n"].fillna(0.0)
    out.insert(0, "variable", var)
    out.insert(1, "from_wave", str(from_wave))
    out.insert(2, "to_wave", str(to_wave))
    return out[TRANSITION_COLUMNS]


def linkage(
    data: pd.DataFrame,
    var: str,
    from_wave: str,
    to_wave: str,
    id: str = "resp_id",  # the panel id column (stable across waves)
    wave: str = "wave",
) -> pd.DataFrame:
    """Persons of the two waves by whether `transitions` uses them.

    One row per ``status`` with ``n`` persons: ``used`` (in both waves, ``var``
    known in both), ``missing_from`` (in both, ``var`` missing in
    ``from_wave``), ``missing_to`` (in both, known in ``from_wave`` but
    missing in ``to_wave``), ``only_from`` and ``only_to`` (observed in one of
    the two waves). The counts add up to the persons in either wave.
    """
    from_rows, to_rows = _wave_rows(data, var, from_wave, to_wave, id, wave)
    known_from = data.loc[from_rows].set_index(id)[var].notna().rename("known_from")
    known_to = data.loc[to_rows].set_index(id)[var].notna().rename("known_to")
    persons = pd.concat([known_from, known_to], axis=1, join="outer")
    in_from = persons["known_from"].notna()
    in_to = persons["known_to"].notna()
    both = in_from & in_to
    ok_from = persons["known_from"].eq(True)
    ok_to = persons["known_to"].eq(True)
    counts = {
        "used": int((both & ok_from & ok_to).sum()),
        "missing_from": int((both & ~ok_from).sum()),
        "missing_to": int((both & ok_from & ~ok_to).sum()),
        "only_from": int((in_from & ~in_to).sum()),
        "only_to": int((in_to & ~in_from).sum()),
    }
    return pd.DataFrame(
        {
            "variable": var,
            "from_wave": str(from_wave),
            "to_wave": str(to_wave),
            "status": list(counts),
            "n": list(counts.values()),
        }
    )


# -- helpers ------------------------------------------------------------------


def _design_of(design: Design | BoundDesign) -> Design:
    if isinstance(design, BoundDesign):
        return design.design
    if isinstance(design, Design):
        return design
    raise TypeError("design must be a neacovid.survey.design.Design")


def _wave_rows(data, var, from_wave, to_wave, id_col, wave) -> tuple[np.ndarray, np.ndarray]:
    for column in (var, id_col, wave):
        if column not in data.columns:
            shown = ", ".join(map(str, data.columns[:12]))
            raise DataError(f"column {column!r} is not in the data; columns are: {shown}")
    waves = data[wave].astype("string")
    known = sorted(waves.dropna().unique())
    for w in (from_wave, to_wave):
        if str(w) not in known:
            raise DataError(f"wave {w!r} is not in column {wave!r}; waves are: {', '.join(known)}")
    if str(from_wave) == str(to_wave):
        raise DataError(f"from_wave and to_wave are both {from_wave!r}; give two waves")
    from_rows = (waves == str(from_wave)).fillna(False).to_numpy(dtype=bool)
    to_rows = (waves == str(to_wave)).fillna(False).to_numpy(dtype=bool)
    for rows, w in ((from_rows, from_wave), (to_rows, to_wave)):
        ids = data.loc[rows, id_col]
        n_missing = int(ids.isna().sum())
        if n_missing:
            raise DataError(
                f"panel id column {id_col!r} has {n_missing} missing value(s) in wave {w!r}; "
                "every respondent needs an id to be followed between waves"
            )
        n_dup = int(ids.duplicated().sum())
        if n_dup:
            raise DataError(
                f"panel id column {id_col!r} has {n_dup} duplicated id(s) in wave {w!r}; "
                "a person may appear once per wave"
            )
    return from_rows, to_rows


def _origin(data, var, from_rows, to_rows, id_col) -> pd.Series:
    """Per row: the person's ``var`` in the first wave, on the second wave's rows only."""
    lookup = pd.Series(
        data.loc[from_rows, var].to_numpy(dtype=object),
        index=data.loc[from_rows, id_col].to_numpy(),
    )
    origin = pd.Series(np.full(len(data), None, dtype=object), index=data.index)
    origin[to_rows] = data.loc[to_rows, id_col].map(lookup).to_numpy(dtype=object)
    return origin.where(origin.notna(), None)


def _categories(col: pd.Series) -> list:
    """The categories of ``var`` in the order `shares` reports them."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        return list(col.cat.categories)
    return list(pd.factorize(col, sort=True)[1])


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Category keys as plain objects, so 1.0 from one side meets 1.0 from the other."""
    out = frame.copy()
    for c in ("from_category", "to_category"):
        out[c] = out[c].astype(object)
    return out


# -- who stays: the panel's attrition ------------------------------------------------

RETENTION_COLUMNS = ["wave", "n_baseline", "n_stayed", "retention", "weighted_retention"]


def retention(
    data: pd.DataFrame,
    baseline: str,
    weight: str,
    by: str | None = None,
    id: str = "resp_id",  # the panel id column (stable across waves)
    wave: str = "wave",
) -> pd.DataFrame:
    """How many of the baseline wave's respondents each later wave still has.

    One row per later wave (and group of ``by``, a column of the baseline rows,
    e.g. ``age_group_2019``): ``n_baseline`` (baseline respondents),
    ``n_stayed`` (of them, respondents of the wave), ``retention`` =
    n_stayed / n_baseline and ``weighted_retention`` (the same with the
    baseline weights: the share of the population the panel still covers).
    """
    waves = data[wave].astype(str).to_numpy()
    in_base = waves == str(baseline)
    base = data[in_base]
    if base.empty:
        raise DataError(f"wave {baseline!r} is not in column {wave!r}; retention needs it")
    groups = base[by].astype(object).where(base[by].notna(), None) if by else None
    person, _ = pd.factorize(data[id])  # integers: membership without comparing strings
    rows = []
    for later in sorted(set(waves) - {str(baseline)}):
        present = np.zeros(person.max() + 1, dtype=bool)
        present[person[waves == later]] = True
        stayed = present[person[in_base]]
        frame = pd.DataFrame(
            {
                "stayed": stayed,
                "w": base[weight].to_numpy(),
                "group": groups.to_numpy() if by else "all",
            }
        )
        for group, part in frame.groupby("group", sort=True, dropna=True):
            row = {"wave": later, "n_baseline": len(part), "n_stayed": int(part["stayed"].sum())}
            row["retention"] = row["n_stayed"] / row["n_baseline"]
            row["weighted_retention"] = float(part.loc[part["stayed"], "w"].sum() / part["w"].sum())
            if by:
                row = {by: group, **row}
            rows.append(row)
    columns = ([by] if by else []) + RETENTION_COLUMNS
    return pd.DataFrame(rows, columns=columns)


def r_indicator(propensity: np.ndarray, weights: np.ndarray) -> float:
    """The R-indicator of representativeness, R = 1 - 2 S(rho) (Schouten, Cobben and
    Bethlehem 2009): S the weighted standard deviation of the estimated response
    propensities over the sample, with the design weights. 1: everybody equally
    likely to respond; lower values: response depends on the characteristics."""
    rho = np.asarray(propensity, dtype=float)
    d = np.asarray(weights, dtype=float)
    total = d.sum()
    mean = (d * rho).sum() / total
    variance = (d * (rho - mean) ** 2).sum() / (total - 1)
    return float(1 - 2 * np.sqrt(variance))
