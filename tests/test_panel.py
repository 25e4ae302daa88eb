"""neacovid.survey.panel: transition tables between waves on a hand-made panel."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neacovid.errors import DataError
from neacovid.survey.design import Design
from neacovid.survey.panel import LINKAGE_STATUSES, TRANSITION_COLUMNS, linkage, transitions

DESIGN = Design(weight="w")


def _panel() -> pd.DataFrame:
    """Wave a: p1-p6; wave b: p1-p5 and p7 (p5 without a value); wave c: p1, p2.

    From a to b, origin x holds p1, p2, p3 (later weights 1, 2, 3; to x, y, y),
    origin y holds p4 (to y); p5 has no value in b, p6 is only in a, p7 only
    in b. Nobody has z in a (z occurs in wave c only).
    """
    rows = [
        ("p1", "a", "x", 10.0),
        ("p2", "a", "x", 10.0),
        ("p3", "a", "x", 10.0),
        ("p4", "a", "y", 10.0),
        ("p5", "a", "y", 10.0),
        ("p6", "a", "y", 10.0),
        ("p1", "b", "x", 1.0),
        ("p2", "b", "y", 2.0),
        ("p3", "b", "y", 3.0),
        ("p4", "b", "y", 4.0),
        ("p5", "b", None, 5.0),
        ("p7", "b", "x", 6.0),
        ("p1", "c", "z", 7.0),
        ("p2", "c", "z", 8.0),
    ]
    return pd.DataFrame(rows, columns=["resp_id", "wave", "loc", "w"])


def _cell(table, origin, destination):
    row = table[(table["from_category"] == origin) & (table["to_category"] == destination)]
    assert len(row) == 1
    return row.iloc[0]


def test_known_answer_with_the_later_waves_weights():
    table = transitions(_panel(), DESIGN, "loc", "a", "b")
    assert list(table.columns) == TRANSITION_COLUMNS
    assert len(table) == 9  # x, y, z on both sides
    assert _cell(table, "x", "x")["estimate"] == pytest.approx(1 / 6)
    assert _cell(table, "x", "y")["estimate"] == pytest.approx(5 / 6)
    assert _cell(table, "x", "z")["estimate"] == 0
    assert _cell(table, "y", "y")["estimate"] == pytest.approx(1.0)
    x_row = table[table["from_category"] == "x"]
    assert (x_row["n"] == 3).all()
    assert x_row["n_cell"].tolist() == [1, 2, 0]
    assert x_row["weighted_n"].tolist() == pytest.approx([6.0] * 3)
    assert (table[table["from_category"] == "y"]["n"] == 1).all()  # p5 has no value in b
    assert set(
        table[["variable", "from_wave", "to_wave"]]
        .drop_duplicates()
        .itertuples(index=False, name=None)
    ) == {("loc", "a", "b")}


def test_origin_without_persons_is_a_row_with_n_zero():
    z_row = transitions(_panel(), DESIGN, "loc", "a", "b").query("from_category == 'z'")
    assert len(z_row) == 3
    assert (z_row["n"] == 0).all() and (z_row["n_cell"] == 0).all()
    assert z_row[["estimate", "se", "ci_low", "ci_high"]].isna().all().all()


def test_standard_error_is_the_linearised_one_on_the_full_design():
    data = _panel()
    table = transitions(data, DESIGN, "loc", "a", "b")
    # Unstratified, every row a PSU, with replacement: V = N/(N-1) sum (z - zbar)^2
    # with the influence z = w (1[to = y] - p) / W of origin x's members, 0 elsewhere.
    p = 5 / 6
    z = np.zeros(len(data))
    members = {6: "x", 7: "y", 8: "y"}  # rows of p1, p2, p3 in wave b
    for row, destination in members.items():
        z[row] = data.loc[row, "w"] * ((destination == "y") - p) / 6.0
    n = len(data)
    variance = n / (n - 1) * np.sum((z - z.mean()) ** 2)
    assert _cell(table, "x", "y")["se"] == pytest.approx(np.sqrt(variance), rel=1e-12)
    assert _cell(table, "x", "x")["se"] == pytest.approx(np.sqrt(variance), rel=1e-12)


def test_rows_sum_to_one_and_cells_to_n():
    table = transitions(_panel(), DESIGN, "loc", "a", "b")
    filled = table[table["n"] > 0]
    np.testing.assert_allclose(filled.groupby("from_category")["estimate"].sum(), 1.0)
    per_row = filled.groupby("from_category").agg(n=("n", "first"), cells=("n_cell", "sum"))
    assert (per_row["n"] == per_row["cells"]).all()


def test_persons_in_one_wave_only_are_excluded_and_counted():
    data = _panel()
    counts = linkage(data, "loc", "a", "b").set_index("status")["n"]
    assert tuple(counts.index) == LINKAGE_STATUSES
    assert counts.to_dict() == {
        "used": 4,
        "missing_from": 0,
        "missing_to": 1,
        "only_from": 1,
        "only_to": 1,
    }
    assert counts.sum() == data.loc[data["wave"].isin(["a", "b"]), "resp_id"].nunique()
    table = transitions(data, DESIGN, "loc", "a", "b")
    used = table.drop_duplicates("from_category")["n"].sum()
    assert used == counts["used"]


def test_missing_value_in_the_first_wave_is_counted():
    data = _panel()
    data.loc[(data["resp_id"] == "p4") & (data["wave"] == "a"), "loc"] = None
    counts = linkage(data, "loc", "a", "b").set_index("status")["n"]
    assert counts["missing_from"] == 1 and counts["used"] == 3
    table = transitions(data, DESIGN, "loc", "a", "b")
    assert (table[table["from_category"] == "y"]["n"] == 0).all()


def test_first_waves_weights_do_not_matter_later_ones_do():
    data = _panel()
    base = transitions(data, DESIGN, "loc", "a", "b")
    earlier = data.copy()
    earlier.loc[earlier["wave"] == "a", "w"] *= 7.0
    same = transitions(earlier, DESIGN, "loc", "a", "b")
    cols = ["estimate", "se", "ci_low", "ci_high"]
    pd.testing.assert_frame_equal(base[cols], same[cols])
    later = data.copy()
    later.loc[(later["wave"] == "b") & (later["resp_id"] == "p1"), "w"] = 4.0
    changed = transitions(later, DESIGN, "loc", "a", "b")
    assert _cell(changed, "x", "x")["estimate"] == pytest.approx(4 / 9)


def test_bound_design_strata_and_categorical_and_binary_variables():
    rng = np.random.default_rng(3)
    n = 300
    ids = [f"r{i}" for i in range(n)]
    data = pd.DataFrame(
        {
            "resp_id": ids * 2,
            "wave": ["w1"] * n + ["w2"] * n,
            "w": rng.uniform(1, 4, 2 * n),
            "flag": rng.integers(0, 2, 2 * n).astype(float),
            "loc": rng.choice(["on_site", "hybrid", "home"], 2 * n),
        }
    )
    data["stratum"] = data["wave"] + "/" + rng.choice(["s1", "s2", "s3"], 2 * n)
    design = Design(weight="w", strata="stratum")
    unbound = transitions(data, design, "flag", "w1", "w2")
    bound = transitions(data, design.bind(data), "flag", "w1", "w2")
    pd.testing.assert_frame_equal(unbound, bound)
    assert set(unbound["from_category"]) == {0.0, 1.0}
    np.testing.assert_allclose(unbound.groupby("from_category")["estimate"].sum(), 1.0)

    as_text = transitions(data, design, "loc", "w1", "w2")
    categorical = data.assign(loc=pd.Categorical(data["loc"]))
    as_category = transitions(categorical, design, "loc", "w1", "w2")
    cols = ["from_category", "to_category", "estimate", "se", "n", "n_cell"]
    pd.testing.assert_frame_equal(
        as_text[cols].astype({"from_category": str, "to_category": str}),
        as_category[cols].astype({"from_category": str, "to_category": str}),
    )
    # all of wave w1's persons are in w2: every one is used
    assert as_text.drop_duplicates("from_category")["n"].sum() == n


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d, "wave 'q' is not in column 'wave'"),
        (lambda d: pd.concat([d, d.iloc[[0]]]), "duplicated id"),
        (lambda d: d.assign(resp_id=d["resp_id"].where(d.index != 0)), "missing value"),
    ],
)
def test_bad_input_names_the_problem(change, message):
    data = change(_panel()).reset_index(drop=True)
    to_wave = "q" if "wave 'q'" in message else "b"
    with pytest.raises(DataError, match=message):
        transitions(data, DESIGN, "loc", "a", to_wave)
    with pytest.raises(DataError, match=message):
        linkage(data, "loc", "a", to_wave)


def test_same_wave_twice_and_unknown_column():
    with pytest.raises(DataError, match="both 'a'"):
        transitions(_panel(), DESIGN, "loc", "a", "a")
    with pytest.raises(DataError, match="column 'nope'"):
        transitions(_panel(), DESIGN, "nope", "a", "b")
