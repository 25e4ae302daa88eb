"""The neacovid command line, run as a user runs it (a process of its own, forked from
one that has imported neacovid: tests/cli_process.py)."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pyreadstat
import pytest
from cli_process import neacovid
from reference_data import r_term

REFERENCE = Path(__file__).parent / "reference"
APISTRAT = REFERENCE / "data" / "apistrat.csv"


def run(*args: str) -> subprocess.CompletedProcess:
    return neacovid(*args)


def _r_rows(case: str, ci: str) -> pd.DataFrame:
    ref = pd.read_csv(REFERENCE / "shares_reference.csv", dtype={"category": str, "domain": str})
    return ref[(ref["case"] == case) & (ref["ci"] == ci) & (ref["level"] == 0.95)]


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".sav"])
def test_estimate_on_apistrat_gives_r_numbers(tmp_path, suffix):
    data = pd.read_csv(APISTRAT)
    path = tmp_path / f"apistrat{suffix}"
    if suffix == ".csv":
        path = APISTRAT
    elif suffix == ".parquet":
        data.to_parquet(path)
    else:
        pyreadstat.write_sav(data, str(path))
    out = tmp_path / "out.csv"
    done = run(
        "estimate",
        str(path),
        "--var",
        "awards",
        "--by",
        "stype",
        "--weight",
        "pw",
        "--strata",
        "stype",
        "--fpc",
        "fpc",
        "--ci",
        "beta",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    got = pd.read_csv(out, dtype={"category": str})
    expected = _r_rows("strat_fpc/awards/stype", "beta")
    assert list(got.columns) == [
        "stype",
        "category",
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "n",
        "n_category",
        "weighted_n",
        "deff",
        "df",
        "level",
        "ci_method",
        "status",
        "reason",
    ]
    assert set(got["ci_method"]) == {"beta"} and set(got["level"]) == {0.95}
    np.testing.assert_allclose(got["estimate"], expected["estimate"], atol=1e-9)
    np.testing.assert_allclose(got["se"], expected["se"], rtol=1e-7)
    np.testing.assert_allclose(got["ci_low"], expected["ci_low"], atol=1e-6)
    np.testing.assert_allclose(got["ci_high"], expected["ci_high"], atol=1e-6)


def test_estimate_writes_to_stdout_and_means():
    done = run(
        "estimate",
        str(APISTRAT),
        "--var",
        "api00",
        "--mean",
        "--weight",
        "pw",
        "--strata",
        "stype",
        "--fpc",
        "fpc",
    )
    assert done.returncode == 0, done.stderr
    got = pd.read_csv(io.StringIO(done.stdout))
    ref = pd.read_csv(REFERENCE / "means_reference.csv")
    ref = ref[ref["case"] == "strat_fpc/api00"]
    np.testing.assert_allclose(got["estimate"], ref["estimate"], atol=1e-9)
    np.testing.assert_allclose(got["se"], ref["se"], rtol=1e-7)


def test_cli_applies_the_disclosure_rules_unless_told_not_to(tmp_path):
    """The analyst's CSV is what leaves the secure environment: same rules as the pipeline."""
    data = pd.read_csv(APISTRAT)
    # 12 schools of which 11 have the award: a share that names (almost) everybody
    groups = np.where(
        np.arange(len(data)) < 12, "tiny", np.where(np.arange(len(data)) % 2, "odd", "even")
    )
    small = data.assign(group=groups)
    small.loc[:10, "awards"] = "Yes"
    small.loc[11, "awards"] = "No"
    path = tmp_path / "small.csv"
    small.to_csv(path, index=False)
    base = ["estimate", str(path), "--var", "awards", "--by", "group", "--weight", "pw"]
    done = run(*base)
    assert done.returncode == 0, done.stderr
    got = pd.read_csv(io.StringIO(done.stdout))
    tiny = got[got["group"] == "tiny"]
    assert (tiny["status"] == "suppressed").all()
    assert tiny[["estimate", "se", "n", "n_category"]].isna().all().all()
    assert not tiny["reason"].str.contains(r"\d+ <|=\d", regex=True).any()  # no exact counts
    # tiny = total - odd - even: the smaller of the two goes too (secondary suppression)
    assert got.groupby("group")["status"].agg(set).map(lambda s: "suppressed" in s).sum() == 2
    rest = got[got["status"] != "suppressed"]
    assert len(rest) == 2 and set(rest["status"]) <= {"ok", "indicative"}
    assert (rest["weighted_n"] % 1000 == 0).all()
    assert (rest["deff"] == rest["deff"].round(2)).all()
    off = run(*base, "--no-disclosure")
    raw = pd.read_csv(io.StringIO(off.stdout))
    assert set(raw["status"]) == {"unchecked"}
    assert raw["reason"].str.contains("not for release").all()
    assert raw["estimate"].notna().all()


def test_help_explains_every_option():
    top = run("--help")
    assert top.returncode == 0 and "estimate" in top.stdout
    sub = run("estimate", "--help")
    for option in [
        "--var",
        "--weight",
        "--strata",
        "--psu",
        "--fpc",
        "--by",
        "--ci",
        "--level",
        "--out",
        "--lonely-psu",
        "--mean",
        "--calibration",
        "--no-disclosure",
        "--quantile",
        "--ratio",
        "--subset",
    ]:
        assert option in sub.stdout


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    sav = tmp_path / "good.sav"
    pyreadstat.write_sav(pd.read_csv(APISTRAT), str(sav))
    truncated = tmp_path / "truncated.sav"
    truncated.write_bytes(sav.read_bytes()[: sav.stat().st_size // 3])
    not_spss = tmp_path / "text.sav"
    not_spss.write_text("this is not an SPSS file\n")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    return {"truncated": truncated, "not_spss": not_spss, "empty": empty}


@pytest.mark.parametrize(
    ("case", "args", "message"),
    [
        ("unknown column", ["--var", "nope"], "nope"),
        ("unknown weight", ["--var", "awards", "--weight", "weight"], "weight"),
        ("non-numeric weight", ["--var", "awards", "--weight", "stype"], "not numeric"),
        ("lonely psu", ["--var", "awards", "--psu", "stype", "--strata", "stype"], "only one PSU"),
        ("too many categories", ["--var", "api00"], "estimate means (--mean)"),
        ("bad ci", ["--var", "awards", "--ci", "exact"], "invalid choice"),
        ("missing file", ["--var", "awards", "--data-file", "x"], "unrecognized"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(case, args, message):
    base = ["estimate", str(APISTRAT), "--weight", "pw"]
    done = run(*base, *args)
    assert done.returncode == 2, case
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("kind", ["truncated", "not_spss", "empty", "missing"])
def test_unreadable_files(tmp_path, kind):
    files = _bad_files(tmp_path)
    path = files.get(kind, tmp_path / "missing.sav")
    out = tmp_path / "out.csv"
    done = run("estimate", str(path), "--var", "awards", "--weight", "pw", "--out", str(out))
    assert done.returncode == 2
    assert str(path) in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    assert not out.exists()
    assert list(tmp_path.glob(".out.csv*")) == []


PANEL = REFERENCE / "data" / "panel.csv"


def test_compare_equals_the_library(tmp_path):
    from neacovid.survey.compare import changes
    from neacovid.survey.design import Design

    out = tmp_path / "changes.csv"
    done = run(
        "compare",
        str(PANEL),
        "--var",
        "y",
        "--over",
        "wave",
        "--base",
        "w0",
        "--by",
        "group",
        "--weight",
        "weight",
        "--strata",
        "stratum",
        "--psu",
        "resp_id",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    got = pd.read_csv(out)
    data = pd.read_csv(PANEL)
    expected = changes(
        data,
        Design("weight", strata="stratum", psu="resp_id"),
        "y",
        over="wave",
        base="w0",
        by="group",
    )
    np.testing.assert_allclose(got["diff"], expected["diff"], atol=1e-12)
    np.testing.assert_allclose(got["se"], expected["se"], rtol=1e-12)
    assert "p_holm" in got.columns


def test_model_and_compare_bad_input():
    done = run(
        "compare",
        str(PANEL),
        "--var",
        "y",
        "--base",
        "w9",
        "--weight",
        "weight",
        "--strata",
        "stratum",
        "--psu",
        "resp_id",
    )
    assert done.returncode == 2 and "w9" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    done = run("model", str(APISTRAT), "--formula", "y700 ~ C(nope)", "--weight", "pw")
    assert done.returncode == 2 and "nope" in done.stderr and "Traceback" not in done.stderr
    done = run(
        "model",
        str(APISTRAT),
        "--formula",
        "y700 ~ C(stype) + meals",
        "--weight",
        "pw",
        "--strata",
        "stype",
        "--fpc",
        "fpc",
    )
    assert done.returncode == 0, done.stderr
    table = pd.read_csv(io.StringIO(done.stdout))
    assert list(table["term"]) == ["Intercept", "C(stype)[T.H]", "C(stype)[T.M]", "meals"]


# --------------------------------------------------------------------------- statistics

STRAT_FPC = ["--weight", "pw", "--strata", "stype", "--fpc", "fpc"]


def _stats_rows(name: str, case: str) -> pd.DataFrame:
    ref = pd.read_csv(REFERENCE / name, keep_default_na=False, na_values=["", "NaN"])
    return ref[ref["case"] == case].reset_index(drop=True)


def _same_numbers(got: pd.DataFrame, expected: pd.DataFrame) -> None:
    np.testing.assert_allclose(got["estimate"], expected["estimate"], atol=1e-8)
    np.testing.assert_allclose(got["se"], expected["se"], rtol=1e-6)
    np.testing.assert_allclose(got["ci_low"], expected["ci_low"], atol=1e-6)
    np.testing.assert_allclose(got["ci_high"], expected["ci_high"], atol=1e-6)
    np.testing.assert_array_equal(got["df"], expected["df"])


def test_estimate_quantiles_give_r_numbers():
    done = run(
        "estimate",
        str(APISTRAT),
        "--var",
        "meals",
        "--quantile",
        "0.1,0.25,0.5,0.75,0.9",
        "--by",
        "stype",
        "--no-disclosure",
        *STRAT_FPC,
    )
    assert done.returncode == 0, done.stderr
    got = pd.read_csv(io.StringIO(done.stdout))
    assert list(got.columns) == [
        "stype",
        "quantile",
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "n",
        "n_below",
        "weighted_n",
        "df",
        "level",
        "ci_method",
        "status",
        "reason",
    ]
    _same_numbers(got, _stats_rows("stats_quantiles.csv", "strat_fpc/meals/stype"))


def test_estimate_ratio_with_subset_gives_r_numbers():
    done = run(
        "estimate",
        str(APISTRAT),
        "--ratio",
        "meals/api00",
        "--by",
        "awards",
        "--subset",
        "api00 > 600",
        "--no-disclosure",
        *STRAT_FPC,
    )
    assert done.returncode == 0, done.stderr
    got = pd.read_csv(io.StringIO(done.stdout))
    assert list(got.columns) == [
        "awards",
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "n",
        "weighted_n",
        "df",
        "level",
        "ci_method",
        "status",
        "reason",
    ]
    _same_numbers(got, _stats_rows("stats_ratios.csv", "strat_fpc/meals:api00/awards/subset"))


def test_estimate_mean_of_a_subset_gives_r_numbers():
    done = run(
        "estimate",
        str(APISTRAT),
        "--var",
        "api00",
        "--mean",
        "--by",
        "awards",
        "--subset",
        "stype == 'E'",
        "--no-disclosure",
        *STRAT_FPC,
    )
    assert done.returncode == 0, done.stderr
    _same_numbers(
        pd.read_csv(io.StringIO(done.stdout)),
        _stats_rows("stats_subsets.csv", "strat_fpc/api00/awards/E"),
    )


def test_model_gaussian_with_subset_gives_r_numbers():
    done = run(
        "model",
        str(APISTRAT),
        "--family",
        "gaussian",
        "--formula",
        "api00 ~ meals + C(awards)",
        "--subset",
        'stype != "H"',
        *STRAT_FPC,
    )
    assert done.returncode == 0, done.stderr
    got = pd.read_csv(io.StringIO(done.stdout))
    assert list(got.columns) == [
        "term",
        "estimate",
        "se",
        "ci_low",
        "ci_high",
        "p_value",
        "p_holm",
        "df",
        "level",
        "ci_method",
        "n",
        "status",
        "reason",
    ]
    assert set(got["status"]) <= {"ok", "indicative"}
    expected = _stats_rows("stats_models.csv", "strat_fpc/api00~meals+awards/notH")
    got = got.assign(term=got["term"].map(r_term)).set_index("term")
    _same_numbers(got.loc[expected["term"]], expected)


def test_quantiles_need_people_on_both_sides():
    """A 10% quantile of 50 schools is about the 5th value: one school's figure."""
    done = run(
        "estimate",
        str(APISTRAT),
        "--var",
        "meals",
        "--quantile",
        "0.1,0.5",
        "--by",
        "stype",
        *STRAT_FPC,
    )
    got = pd.read_csv(io.StringIO(done.stdout))
    low = got[(got["stype"] == "H") & (got["quantile"] == 0.1)]
    assert (low["status"] == "suppressed").all() and low["estimate"].isna().all()
    assert (got[got["quantile"] == 0.5]["status"] != "suppressed").all()


def test_compare_with_subset_equals_the_library(tmp_path):
    from neacovid.survey.compare import changes
    from neacovid.survey.design import Design

    done = run(
        "compare",
        str(PANEL),
        "--var",
        "y",
        "--over",
        "wave",
        "--base",
        "w0",
        "--subset",
        "group == 'a'",
        "--weight",
        "weight",
        "--strata",
        "stratum",
        "--psu",
        "resp_id",
    )
    assert done.returncode == 0, done.stderr
    got = pd.read_csv(io.StringIO(done.stdout))
    data = pd.read_csv(PANEL)
    expected = changes(
        data,
        Design("weight", strata="stratum", psu="resp_id"),
        "y",
        over="wave",
        base="w0",
        subset=data["group"].eq("a").to_numpy(),
    )
    np.testing.assert_allclose(got["diff"], expected["diff"], atol=1e-12)
    np.testing.assert_allclose(got["se"], expected["se"], rtol=1e-12)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--var", "meals", "--ratio", "meals/api00"],
            "argument --ratio: not allowed with argument --var",
        ),
        (
            ["--ratio", "meals/api00", "--mean"],
            "argument --ratio: not allowed with argument --mean",
        ),
        (
            ["--var", "meals", "--mean", "--quantile", "0.5"],
            "argument --quantile: not allowed with argument --mean",
        ),
        (
            ["--var", "meals", "--quantile", "0.5", "--ci", "beta"],
            "argument --ci: not allowed with argument --quantile",
        ),
        (["--by", "stype"], "one of the arguments --var --ratio is required"),
        (["--var", "meals", "--quantile", "0.5,2"], "--quantile '0.5,2' must be probabilities"),
        (["--ratio", "meals"], "--ratio 'meals' must be two columns"),
        (["--var", "meals", "--mean", "--subset", "nope > 1"], "cannot evaluate subset 'nope > 1'"),
        (["--var", "stype", "--quantile", "0.5"], "'stype' is not numeric"),
    ],
)
def test_statistics_options_errors_are_one_line(args, message):
    done = run("estimate", str(APISTRAT), "--weight", "pw", *args)
    assert done.returncode == 2
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr


def test_help_says_what_each_statistic_is_in_r():
    text = " ".join(run("estimate", "--help").stdout.split())
    for words in [
        "--quantile",
        "svyquantile",
        "--ratio",
        "svyratio",
        "--subset",
        "subset(design, EXPR)",
        "svymean",
        "svyciprop",
        "t with the domain's df",
    ]:
        assert words in text, words
    text = " ".join(run("model", "--help").stdout.split())
    for words in ["--family", "gaussian", "svyglm(family = gaussian())", "--subset"]:
        assert words in text, words
    assert "--subset" in run("compare", "--help").stdout


def test_categories_are_text_and_spss_value_labels_come_along(tmp_path):
    """0/1 floats are categories "0"/"1"; an SPSS file's value labels of the variable and
    of the --by columns stand beside the codes; a mistyped column lists the columns."""
    data = pd.read_csv(APISTRAT)
    data["high"] = (data["api00"] > 650).astype(float)
    data["kind"] = data["stype"].map({"E": 1.0, "H": 2.0, "M": 3.0})
    path = tmp_path / "api.sav"
    pyreadstat.write_sav(
        data.drop(columns=["stype", "name", "dname", "sname", "cname"], errors="ignore"),
        str(path),
        variable_value_labels={
            "high": {0.0: "no", 1.0: "yes"},
            "kind": {1.0: "elementary", 2.0: "high", 3.0: "middle"},
        },
    )
    done = run("estimate", str(path), "--var", "high", "--by", "kind", "--weight", "pw")
    assert done.returncode == 0, done.stderr
    got = pd.read_csv(io.StringIO(done.stdout), dtype=str)
    assert list(got.columns[:4]) == ["kind", "kind_label", "category", "category_label"]
    assert set(got["category"]) == {"0", "1"} and set(got["category_label"]) == {"no", "yes"}
    assert set(got["kind_label"]) == {"elementary", "high", "middle"}
    csv = tmp_path / "api.csv"
    data.to_csv(csv, index=False)
    done = run("estimate", str(csv), "--var", "high", "--weight", "pw")
    assert set(pd.read_csv(io.StringIO(done.stdout), dtype=str)["category"]) == {"0", "1"}
    for source in (path, csv):
        done = run("estimate", str(source), "--var", "hihg", "--weight", "pw")
        assert done.returncode == 2 and "hihg" in done.stderr and "api00" in done.stderr
