"""Statistical disclosure control of estimate tables (CBS output rules).

Every table the pipeline writes passes `apply_rules`: it keeps all rows and
adds ``status`` (``ok``, ``indicative``, ``suppressed``, or ``empty`` for a
domain without respondents, e.g. a question not asked in that wave: nothing to
protect, nothing to show) and ``reason``.

- suppressed: the domain has fewer than ``min_n`` unweighted respondents; its
  numbers (n included) are blanked. Its complement is suppressed too where the
  blanked cell could be derived: when a breakdown (e.g. location) partitions a
  total shown elsewhere (the wave), one suppressed part would follow from the
  total minus the other parts, so the smallest other part goes as well.
- indicative: fewer than ``flag_n`` respondents (the NEA publication rule), or
  a relative standard error above ``max_rse``.
- weighted counts are rounded to the nearest ``round_weighted_n``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from neacovid.errors import ConfigError

OK, INDICATIVE, SUPPRESSED, EMPTY = "ok", "indicative", "suppressed", "empty"
NUMBERS = ["estimate", "se", "ci_low", "ci_high", "n", "weighted_n", "deff", "df"]


@dataclass(frozen=True)
class DisclosureRules:
    min_n: int = 10
    flag_n: int = 200
    max_rse: float = 0.3
    round_weighted_n: int = 1000

    @classmethod
    def from_config(cls, spec: Mapping | None) -> DisclosureRules:
        spec = dict(spec or {})
        unknown = set(spec) - {"min_n", "flag_n", "max_rse", "round_weighted_n"}
        if unknown:
            raise ConfigError(f"disclosure: unknown key {sorted(unknown)[0]!r}")
        rules = cls(**spec)
        if not 0 < rules.min_n <= rules.flag_n:
            raise ConfigError("disclosure: need 0 < min_n <= flag_n")
        return rules


def apply_rules(
    table: pd.DataFrame,
    rules: DisclosureRules,
    domain: Sequence[str],
    partition: str | None = None,
    n_columns: Sequence[str] = ("n",),
    rse: bool = True,
    keep: Sequence[str] = (),
) -> pd.DataFrame:
    """Return ``table`` with ``status`` and ``reason``, numbers blanked where suppressed.

    domain: the columns that identify a domain (e.g. ["wave", "location"]); the
        ``n`` of its rows is the domain's number of respondents.
    partition: the column of ``domain`` whose levels add up to a total that is
        published too (secondary suppression within each group of the others).
    n_columns: respondent counts behind a cell; a comparison of two domains
        (n and base_n) is as small as its smaller side.
    rse: apply the relative-standard-error rule (not for differences, whose
        RSE is large whenever they are near zero).
    keep: numeric columns that are not estimates (e.g. the published figure).
    """
    out = table.copy()
    counts = out[list(n_columns)].astype(float).fillna(0)
    # A comparison with one empty side has no estimate, but its other side's
    # numbers are still there: only a row without any respondent is empty.
    largest = counts.max(axis=1).to_numpy()
    n = counts.where(counts > 0).min(axis=1).fillna(0).to_numpy()
    status = np.full(len(out), OK, dtype=object)
    reason = np.full(len(out), "", dtype=object)

    empty = ~(largest > 0)
    status[empty] = EMPTY
    reason[empty] = "no respondents"
    # No comparison without one side; its other side's numbers are not shown
    # here either (they are in the estimate tables, under their own rules).
    one_sided = ~empty & (counts.min(axis=1).to_numpy() == 0)
    status[one_sided] = EMPTY
    reason[one_sided] = "no respondents on one side"
    primary = ~empty & ~one_sided & (n < rules.min_n)
    status[primary] = SUPPRESSED
    reason[primary] = [f"n={int(v)} < min_n={rules.min_n}" for v in n[primary]]

    if partition is not None:
        secondary = _complements(out, primary, list(domain), partition)
        secondary &= ~primary
        status[secondary] = SUPPRESSED
        reason[secondary] = f"complement of a suppressed {partition} (derivable from the total)"

    live = status == OK
    small = live & (n < rules.flag_n)
    status[small] = INDICATIVE
    reason[small] = [f"n={int(v)} < flag_n={rules.flag_n}" for v in n[small]]
    if rse:
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = out["se"].to_numpy(dtype=float) / np.abs(
                out["estimate"].to_numpy(dtype=float)
            )
        noisy = live & ~small & (ratio > rules.max_rse)
        status[noisy] = INDICATIVE
        reason[noisy] = [f"rse={v:.2f} > max_rse={rules.max_rse}" for v in ratio[noisy]]

    numbers = [
        c for c in out.columns
        if c not in domain and c not in keep and pd.api.types.is_numeric_dtype(out[c])
    ]
    out[numbers] = out[numbers].astype(float)
    out.loc[(status == SUPPRESSED) | (status == EMPTY), numbers] = np.nan
    if "weighted_n" in out.columns and rules.round_weighted_n > 1:
        step = rules.round_weighted_n
        out["weighted_n"] = (out["weighted_n"] / step).round() * step
    for c in n_columns:
        out[c] = out[c].round().astype("Int64")
    out["status"] = status
    out["reason"] = reason
    return out


def _complements(
    table: pd.DataFrame, primary: np.ndarray, domain: list[str], partition: str
) -> np.ndarray:
    """Rows of the smallest other part where exactly one part of a group is suppressed."""
    others = [c for c in domain if c != partition]
    domains = table[domain].astype(str).agg("\x1f".join, axis=1)
    per_domain = pd.DataFrame(
        {"domain": domains, "n": table["n"].to_numpy(dtype=float), "primary": primary}
    )
    per_domain["group"] = (
        table[others].astype(str).agg("\x1f".join, axis=1) if others else ""
    )
    firsts = per_domain.drop_duplicates("domain")
    extra: set[str] = set()
    for _, group in firsts.groupby("group"):
        hidden = group[group["primary"]]
        visible = group[~group["primary"]]
        if len(hidden) == 1 and len(visible) >= 1:
            extra.add(visible.sort_values("n", kind="stable")["domain"].iloc[0])
    return domains.isin(extra).to_numpy(copy=True)


def output_check(tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Every suppressed or indicative cell of the given tables, with its reason."""
    rows = []
    for name, table in tables.items():
        if "status" not in table.columns:
            continue
        flagged = table[table["status"].isin([SUPPRESSED, INDICATIVE])]
        key_columns = [
            c for c in flagged.columns
            if c not in {*NUMBERS, "status", "reason"}
            and not pd.api.types.is_numeric_dtype(table[c])
        ]
        for _, row in flagged.iterrows():
            cell = "; ".join(f"{c}={row[c]}" for c in key_columns if pd.notna(row[c]))
            rows.append(
                {"table": name, "cell": cell, "status": row["status"], "reason": row["reason"]}
            )
    return pd.DataFrame(rows, columns=["table", "cell", "status", "reason"])


# -- one suppression decision for every table ------------------------------------

# Populations and contrast sides that are unions of a breakdown's groups.
UNIONS = {("home_any", "1"): ("location", ("hybrid", "home")),
          ("home_any", "0"): ("location", ("on_site",))}


def read_suppressed_cells(paths: Sequence[str]) -> set[tuple[str, str, str, str]]:
    from pathlib import Path

    text = {c: str for c in ("wave", "location", "age_group", "category")}
    return suppressed_cells({Path(p).stem: pd.read_csv(p, dtype=text) for p in paths})


def suppressed_cells(tables: Mapping[str, pd.DataFrame]) -> set[tuple[str, str, str, str]]:
    """(indicator, wave, breakdown, group) of every suppressed domain of the
    ``<indicator>_by_<breakdown>`` tables (breakdown "wave": group "all")."""
    cells = set()
    for name, table in tables.items():
        if "_by_" not in name or "status" not in table.columns:
            continue
        indicator, breakdown = name.split("_by_", 1)
        hidden = table[table["status"] == SUPPRESSED]
        for _, row in hidden.iterrows():
            group = "all" if breakdown == "wave" else str(row[breakdown])
            cells.add((indicator, str(row["wave"]), breakdown, group))
    return cells


def _suppress(out: pd.DataFrame, mask: np.ndarray, reason: str, keep: Sequence[str]) -> None:
    mask = mask & out["status"].isin([OK, INDICATIVE]).to_numpy()
    if not mask.any():
        return
    numbers = [c for c in out.columns
               if c not in keep and pd.api.types.is_numeric_dtype(out[c])]
    out[numbers] = out[numbers].astype(float)
    out.loc[mask, numbers] = np.nan
    out.loc[mask, "status"] = SUPPRESSED
    out.loc[mask, "reason"] = reason


def _side_cells(indicator: str, wave: str, column: str, values) -> list[tuple]:
    cells = []
    for value in values:
        breakdown, groups = UNIONS.get((column, str(value)), (column, (str(value),)))
        cells += [(indicator, wave, breakdown, g) for g in groups]
    return cells


def suppress_changes(table: pd.DataFrame, cells: set) -> pd.DataFrame:
    """A change whose wave or base cell is suppressed in the estimate tables
    would give that cell away (estimate, base_estimate): suppress it too."""
    out = table.copy()
    def hidden(r, wave) -> bool:
        breakdown = "wave" if r.breakdown == "all" else r.breakdown
        return (r.indicator, str(wave), breakdown, str(r.group)) in cells

    mask = np.array([hidden(r, r.wave) or hidden(r, r.base)
                     for r in out.itertuples(index=False)], dtype=bool)
    _suppress(out, mask, "suppressed in the estimate table", keep=())
    return out


def suppress_contrasts(table: pd.DataFrame, cells: set) -> pd.DataFrame:
    """A contrast side that is (or contains) a suppressed cell is suppressed."""
    out = table.copy()
    mask = np.zeros(len(out), dtype=bool)
    for i, r in enumerate(out.itertuples(index=False)):
        if "location" in out.columns and pd.notna(getattr(r, "location", None)):
            continue  # sides within a location are domains of their own (n_a, n_b)
        for side in (r.a, r.b):
            values = [v.strip() for v in str(side).split(",")]
            if any(c in cells for c in _side_cells(r.indicator, str(r.wave), r.group, values)):
                mask[i] = True
    _suppress(out, mask, "contains a cell suppressed in the estimate table", keep=())
    return out


def suppress_key_figures(table: pd.DataFrame, cells: set, populations: Mapping) -> pd.DataFrame:
    """A key figure whose population contains a suppressed cell is suppressed."""
    out = table.copy()
    mask = np.zeros(len(out), dtype=bool)
    for i, r in enumerate(out.itertuples(index=False)):
        spec = populations.get(r.population)
        if spec is None:
            wanted = [(r.indicator, str(r.wave), "wave", "all")]
        else:
            wanted = _side_cells(r.indicator, str(r.wave), spec["column"], [spec["value"]])
        mask[i] = any(c in cells for c in wanted)
    _suppress(out, mask, "contains a cell suppressed in the estimate table",
              keep=("published",))
    if mask.any():
        out["within_ci"] = out["within_ci"].astype(object)
        out.loc[mask, "within_ci"] = None
    return out
