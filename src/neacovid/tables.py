"""The pipeline's weighted tables: every indicator by wave and breakdown.

One bound design serves every table (R: one svydesign, many svyby calls).
Which indicators are shares and which are means, and the breakdowns, come
from config.yaml's ``tables:`` section.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from neacovid.design import BoundDesign, Design
from neacovid.errors import ConfigError
from neacovid.estimate import category_label, means, shares


@dataclass(frozen=True)
class TableSpec:
    """One output table: ``<indicator>_by_<breakdown>``."""

    indicator: str
    breakdown: str | None  # None: by wave only
    kind: str  # "share" or "mean"

    @property
    def name(self) -> str:
        return f"{self.indicator}_by_{self.breakdown or 'wave'}"

    @property
    def by(self) -> list[str]:
        return ["wave"] if self.breakdown is None else ["wave", self.breakdown]


def table_specs(
    share_indicators: Sequence[str],
    mean_indicators: Sequence[str],
    breakdowns: Sequence[str],
    derived_from: Mapping[str, str] | None = None,
) -> list[TableSpec]:
    """Every indicator by wave, and by wave x each breakdown.

    An indicator derived from a breakdown (home_any from location) is not
    tabulated by it: that table would hold only 0% and 100%.
    """
    derived_from = dict(derived_from or {})
    overlap = set(share_indicators) & set(mean_indicators)
    if overlap:
        raise ConfigError(
            f"tables: {sorted(overlap)[0]!r} is listed both as a share and as a mean; "
            "keep it in one list"
        )
    specs = []
    for kind, names in (("share", share_indicators), ("mean", mean_indicators)):
        for indicator in names:
            specs.append(TableSpec(indicator, None, kind))
            for breakdown in breakdowns:
                if breakdown == indicator or derived_from.get(indicator) == breakdown:
                    continue
                specs.append(TableSpec(indicator, breakdown, kind))
    return specs


def estimate_table(
    analysis: pd.DataFrame,
    design: Design | BoundDesign,
    spec: TableSpec,
    ci: str = "logit",
    level: float = 0.95,
) -> pd.DataFrame:
    if spec.kind == "mean":
        table = means(analysis, design, spec.indicator, by=spec.by, level=level)
    else:
        table = shares(analysis, design, spec.indicator, by=spec.by, ci=ci, level=level)
        table["category"] = table["category"].map(category_label)
    table.insert(0, "indicator", spec.indicator)
    return table


def estimate_tables(
    analysis: pd.DataFrame,
    design: Design,
    specs: Sequence[TableSpec],
    ci: str = "logit",
    level: float = 0.95,
) -> dict[str, pd.DataFrame]:
    bound = design.bind(analysis)
    return {spec.name: estimate_table(analysis, bound, spec, ci, level) for spec in specs}
