"""Every published cell of every output, checked against the microdata.

Two small runs (scale 0.05 and 0.02, where small cells are common; tests/conftest.py) go
through the whole pipeline; then, for each table the pipeline publishes, the
counts behind each shown cell are recounted from ``analysis.parquet`` (the
microdata) and must reach ``min_n`` with and without the answer. No set of cells
that adds up to a published total may have a lone hidden cell, no text states a
count below ``min_n``, and the rounded weighted counts cannot be recovered from
the other columns. Each leak the output checker found has a test here.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from neacovid.publish.disclosure import DisclosureRules

RULES = DisclosureRules()
SHOWN = ("ok", "indicative")
TEXT = {
    c: str
    for c in (
        "wave",
        "base",
        "category",
        "group",
        "location",
        "age_group",
        "a",
        "b",
        "term",
        "population",
    )
}


@pytest.fixture(scope="module", params=["pipeline_small", "pipeline_tiny"])
def run(request):
    run = request.getfixturevalue(request.param)
    assert run.done.returncode == 0, run.done.stderr
    return run


def _read(run, name: str) -> pd.DataFrame:
    return pd.read_csv(run.results / "tables" / f"{name}.csv", dtype=TEXT)


def _analysis(run) -> pd.DataFrame:
    data = pd.read_parquet(run.results / "analysis.parquet")
    data["wave"] = data["wave"].astype(str)
    return data


def _label(value) -> str:
    text = str(value)
    return text[:-2] if text.endswith(".0") else text


def _estimate_tables(run):
    for path in sorted((run.results / "tables").glob("*_by_*.csv")):
        if path.stem.startswith("tests_"):  # the location x age tests, not estimates
            continue
        indicator, breakdown = path.stem.split("_by_", 1)
        yield indicator, breakdown, pd.read_csv(path, dtype=TEXT)


def test_every_shown_share_has_enough_people_with_and_without_the_answer(run):
    data = _analysis(run)
    checked = 0
    for indicator, breakdown, table in _estimate_tables(run):
        by = ["wave"] if breakdown == "wave" else ["wave", breakdown]
        known = data[data[indicator].notna()]
        n = known.groupby(by).size()
        for row in table[table["status"].isin(SHOWN)].itertuples(index=False):
            key = tuple(str(getattr(row, c)) for c in by)
            key = key[0] if len(key) == 1 else key
            domain_n = int(n.loc[key])
            assert domain_n >= RULES.min_n
            assert int(row.n) == domain_n
            if "category" in table.columns:
                inside = known[(known[by].astype(str) == list(np.atleast_1d(key))).all(axis=1)]
                with_answer = int((inside[indicator].map(_label) == row.category).sum())
                assert with_answer >= RULES.min_n, (indicator, breakdown, key, row.category)
                assert domain_n - with_answer >= RULES.min_n, (indicator, key, row.category)
                checked += 1
    assert checked > 100


def test_no_set_adding_up_to_a_total_has_a_lone_hidden_cell(run):
    for indicator, breakdown, table in _estimate_tables(run):
        live = table[table["status"] != "empty"]
        sets = []
        if "category" in table.columns:
            sets.append(["wave"] if breakdown == "wave" else ["wave", breakdown])
            if breakdown != "wave":
                sets.append(["wave", "category"])
        elif breakdown != "wave":
            sets.append(["wave"])
        for keys in sets:
            lone = live.groupby(keys)["status"].apply(lambda s: (s == "suppressed").sum() == 1)
            assert not lone.any(), (indicator, breakdown, keys, lone[lone].index.tolist())


def test_comparisons_count_both_sides(run):
    data = _analysis(run)
    changes = _read(run, "changes_vs_2019")
    shown = changes[changes["status"].isin(SHOWN) & changes["n_with"].notna()]
    assert len(shown)
    for row in shown.itertuples(index=False):
        for wave in (row.wave, row.base):
            part = data[(data["wave"] == wave) & data[row.indicator].notna()]
            if row.breakdown != "all":
                part = part[part[row.breakdown].astype(str) == row.group]
            yes = int((part[row.indicator] == 1).sum())
            assert yes >= RULES.min_n and len(part) - yes >= RULES.min_n, row
    contrasts = _read(run, "contrasts")
    for row in contrasts[contrasts["status"].isin(SHOWN)].itertuples(index=False):
        for n, with_answer in ((row.n_a, row.n_with_a), (row.n_b, row.n_with_b)):
            assert n >= RULES.min_n
            if pd.notna(with_answer):
                assert with_answer >= RULES.min_n and n - with_answer >= RULES.min_n


def test_key_figures_count_people(run):
    key = _read(run, "kerncijfers")
    for row in key[key["status"].isin(SHOWN)].itertuples(index=False):
        assert row.n_category >= RULES.min_n and row.n - row.n_category >= RULES.min_n


def test_model_terms_count_people_per_level(run):
    data = _analysis(run)
    for path in sorted((run.results / "models").glob("*_logit.csv")):
        table = pd.read_csv(path, dtype=TEXT)
        if "term" not in table or (table["status"] == "not_estimable").all():
            continue
        outcome = table["indicator"].iloc[0]
        for row in table[table["status"].isin(SHOWN)].itertuples(index=False):
            match = re.match(r"^C\((\w+).*\)\[T\.(.+)\]$", row.term)
            if not match:
                continue
            var, level = match.groups()
            if level == "(other)":  # merged sparse levels: not in the data as such
                continue
            # one model per wave: the counts are the wave's
            fitted = data[
                data[outcome].notna()
                & data[var].notna()
                & (data["wave"].astype(str) == str(row.wave))
            ]
            inside = fitted[fitted[var].astype(str) == level]
            yes = int((inside[outcome] == 1).sum())
            assert yes >= RULES.min_n and len(inside) - yes >= RULES.min_n, (path.name, row.term)


def test_no_text_states_a_count_below_min_n(run):
    allowed = {str(v) for v in (RULES.min_n, RULES.flag_n, RULES.min_df, 2017)}
    check = pd.read_csv(run.results / "output_check.csv")
    for reason in check["reason"]:
        numbers = set(re.findall(r"\d+", reason.split("%")[0]))
        assert numbers <= allowed | {"130", "0", "30"}, reason
    figures = json.loads((run.results / "figures" / "en" / "figures.json").read_text())
    for entry in figures["figures"] if isinstance(figures, dict) else figures:
        text = json.dumps(entry)
        for n in re.findall(r"n = ([\d,]+)", text):
            assert int(n.replace(",", "")) >= RULES.min_n, (n, entry.get("name"))


def test_counts_in_every_table_reach_min_n(run):
    for path in sorted((run.results / "tables").glob("*.csv")) + sorted(
        (run.results / "models").glob("*.csv")
    ):
        table = pd.read_csv(path, dtype=TEXT)
        shown = table[table["status"].isin(SHOWN)] if "status" in table else table
        for column in [
            c
            for c in table.columns
            if c == "n"
            or c.startswith("n_")
            or c == "base_n"
            or c.endswith("_n")
            and c != "weighted_n"
        ]:
            values = pd.to_numeric(shown[column], errors="coerce").dropna()
            assert (values >= RULES.min_n).all(), (path.name, column)


def test_rounding_is_not_undone_by_deff(run):
    for indicator, breakdown, table in _estimate_tables(run):
        if "category" not in table.columns:
            continue
        shown = table[table["status"].isin(SHOWN)]
        assert (shown["weighted_n"] % RULES.round_weighted_n == 0).all()
        assert (shown["deff"].round(RULES.deff_decimals) == shown["deff"]).all()
        p, se, n, deff = (shown[c].to_numpy(float) for c in ("estimate", "se", "n", "deff"))
        with np.errstate(divide="ignore", invalid="ignore"):
            recovered = n / (1 - se**2 * (n - 1) / (deff * p * (1 - p)))
        exact = np.abs(recovered - shown["weighted_n"].to_numpy(float)) < 1
        assert not exact.any(), (indicator, breakdown)


def test_the_transitions_notebook_counts_people(run):
    """The notebook's rules through the library function it uses."""
    from neacovid.publish.disclosure import protect_transitions
    from neacovid.survey.design import Design
    from neacovid.survey.panel import transitions

    data = _analysis(run)
    config = json.loads((run.results / "design_check.json").read_text())["design"]
    bound = Design.from_mapping(config).bind(data)
    waves = sorted(data["wave"].unique())
    for a, b in zip(waves[:-1], waves[1:], strict=True):
        table = protect_transitions(transitions(data, bound, "location", a, b), RULES)
        shown = table[table["status"].isin(SHOWN)]
        assert (shown["n_cell"] >= RULES.min_n).all()
        assert ((shown["n"] - shown["n_cell"]) >= RULES.min_n).all()
        for _, row in table[table["status"] != "empty"].groupby("from_category"):
            assert (row["status"] == "suppressed").sum() != 1
