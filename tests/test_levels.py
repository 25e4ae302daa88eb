"""A run at another confidence level and another multiple-testing method, given as two
overlays: every output says the level and the method it has (issue: a 99% run was
labelled 95%), and both overlays reach the checks and Snakemake."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml


@pytest.fixture(scope="module")
def run_99(pipeline_tiny):
    """The session's scale-0.02 run: its overlays ask for 99% and Benjamini-Hochberg."""
    assert pipeline_tiny.done.returncode == 0, pipeline_tiny.done.stderr[-2000:]
    return pipeline_tiny.results, pipeline_tiny.done


def test_both_overlays_reach_snakemake(run_99):
    results, done = run_99
    merged = yaml.safe_load((results / ".neacovid" / "config.yaml").read_text())
    assert merged["tables"]["level"] == 0.99 and merged["compare"]["multiple_testing"] == "bh"
    assert f"Report (en): {results / 'report/en/index.html'}" in done.stdout
    changes = pd.read_csv(results / "tables" / "changes_vs_2019.csv")
    assert set(changes["adjustment"]) == {"bh"} and set(changes["level"]) == {0.99}


def test_every_csv_carries_the_level(run_99):
    results, _ = run_99
    checked = 0
    for path in sorted((results / "tables").glob("*.csv")) + sorted(
        (results / "models").glob("*_logit.csv")
    ):
        table = pd.read_csv(path)
        if "ci_low" not in table:
            continue  # no interval in this table (retention, tests)
        assert {"level", "ci_method"} <= set(table.columns), path.name
        assert set(table["level"].dropna()) == {0.99}, path.name
        checked += 1
    assert checked >= 20


def test_no_text_says_95_percent(run_99):
    results, _ = run_99
    for language, level in (("nl", "99%"), ("en", "99%")):
        html = (results / "report" / language / "index.html").read_text(encoding="utf-8")
        assert "95%" not in html and "95 %" not in html
        assert html.count(level) >= 5
        manifest = json.loads((results / "figures" / language / "figures.json").read_text())
        for entry in manifest["figures"]:
            text = " ".join(str(entry[k]) for k in ("title", "caption", "alt"))
            assert "95%" not in text, entry["name"]
        assert "Holm" not in " ".join(e["caption"] for e in manifest["figures"])
    html = (results / "report" / "en" / "index.html").read_text(encoding="utf-8")
    assert "Benjamini-Hochberg" in html
