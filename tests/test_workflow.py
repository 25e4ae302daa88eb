"""End to end: `neacovid run` (what `make report` runs) in a temporary directory.

The synthetic default at a small scale goes through the real Snakemake
workflow: .sav files, harmonisation, indicators, tables, key figures, report.
Bad input stops the run with one line and exit status 2, before results exist.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import re
import signal
import subprocess
import sys
import time
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import cli_process
import markupsafe
import pandas as pd
import pyreadstat
import pytest
import yaml
from conftest import rewrite

REPO = Path(__file__).resolve().parents[1]
SCALE = 0.05


def neacovid(*args: str) -> subprocess.CompletedProcess:
    return cli_process.neacovid(*args, cwd=REPO)


def write_config(path: Path, overrides: dict) -> Path:
    path.write_text(yaml.safe_dump(overrides), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def synthetic_run(pipeline_small):
    """The session's scale-0.05 run (tests/conftest.py), as (root, config, process)."""
    return pipeline_small.root, pipeline_small.config, pipeline_small.done


def test_run_succeeds_and_says_where_the_report_is(synthetic_run):
    tmp, _, done = synthetic_run
    assert done.returncode == 0, done.stderr + (tmp / "results/logs/snakemake.log").read_text()
    assert f"Report (nl): {tmp / 'results/report/nl/index.html'}" in done.stdout


def test_synthetic_files_are_spss_per_wave(synthetic_run):
    tmp, _, _ = synthetic_run
    waves = pd.read_csv(REPO / "data/reference/waves.csv", dtype={"wave": str})
    for row in waves.itertuples():
        frame, meta = pyreadstat.read_sav(
            str(tmp / "synthetic" / f"{row.wave}.sav"), user_missing=True
        )
        assert len(frame) == round(row.respondents * SCALE)
        assert meta.missing_ranges  # declared SPSS user-missing codes


def test_audits_add_up(synthetic_run):
    tmp, _, _ = synthetic_run
    audits = sorted((tmp / "results/harmonized").glob("*.audit.json"))
    assert len(audits) == 6
    for path in audits:
        audit = json.loads(path.read_text())
        assert audit["rows_read"] == audit["rows_kept"] + sum(audit["rows_excluded"].values())
        kept = pd.read_parquet(path.with_name(path.name.replace(".audit.json", ".parquet")))
        assert len(kept) == audit["rows_kept"]


def test_comparison_tables(synthetic_run):
    tmp, _, _ = synthetic_run
    tables = tmp / "results/tables"
    changes = pd.read_csv(tables / "changes_vs_2019.csv", dtype={"wave": str, "base": str})
    assert set(changes["base"]) == {"2019"}
    assert "2019" not in set(changes["wave"])
    assert {"all", "location", "age_group", "location_2019", "age_group_2019"} == set(
        changes["breakdown"]
    )
    ok = changes[changes["status"] == "ok"]
    assert (ok["diff"] - (ok["estimate"] - ok["base_estimate"])).abs().max() < 1e-12
    assert (changes["p_adjusted"].dropna() >= changes["p_value"].dropna()).all()
    assert changes.loc[changes["status"] != "suppressed", "family"].str.len().min() > 0
    # the hierarchy: a group's change is significant only where the overall change is
    significant = changes[changes["significant"].astype(str) == "True"]
    overall = changes[changes["breakdown"] == "all"].set_index(["indicator", "wave"])
    for row in significant[significant["breakdown"] != "all"].itertuples():
        assert str(overall.loc[(row.indicator, row.wave), "significant"]) == "True"
    did = pd.read_csv(tables / "did.csv", dtype={"wave": str})
    assert set(did["comparison"]) == {"young_vs_older", "young_vs_older_by_location"}
    shown = did[did["status"] != "suppressed"]
    assert (
        shown["did"]
        - (
            (shown["estimate_a"] - shown["base_estimate_a"])
            - (shown["estimate_b"] - shown["base_estimate_b"])
        )
    ).abs().max() < 1e-12
    consecutive = pd.read_csv(tables / "changes_consecutive.csv", dtype=str)
    assert set(zip(consecutive["base"], consecutive["wave"], strict=True)) >= {
        ("2019", "2020-06"),
        ("2021-03", "2021-11"),
    }
    contrasts = pd.read_csv(tables / "contrasts.csv")
    assert set(contrasts["contrast"]) == {"home_vs_onsite", "young_vs_older"}
    test = pd.read_csv(tables / "tests_location_by_age.csv", dtype={"wave": str})
    assert len(test) == 6 and {"statistic", "ndf", "ddf", "p_value", "p_adjusted", "family"} <= set(
        test
    )


def test_tables_for_every_indicator_and_breakdown(synthetic_run):
    tmp, _, _ = synthetic_run
    tables = tmp / "results/tables"
    for indicator in ["burnout", "kans", "lonely", "physical", "future_hybrid", "sitting_hours"]:
        for breakdown in ["wave", "location", "age_group"]:
            table = pd.read_csv(tables / f"{indicator}_by_{breakdown}.csv")
            assert {"estimate", "se", "ci_low", "ci_high", "n", "df"} <= set(table.columns)
            assert table["wave"].nunique() >= 5
    location = pd.read_csv(tables / "location_by_wave.csv", dtype={"wave": str})
    sums = location.groupby("wave")["estimate"].sum()
    assert (sums.round(9) == 1).all()
    ages = pd.read_csv(tables / "burnout_by_age_group.csv")
    assert set(ages["age_group"]) == {"15-24", "25-34", "35-44", "45-54", "55-64", "65-74"}


def test_key_figures_every_published_figure_within_ci(synthetic_run):
    tmp, _, _ = synthetic_run
    figures = pd.read_csv(tmp / "results/tables/kerncijfers.csv")
    published = pd.read_csv(REPO / "data/reference/published_figures.csv")
    assert list(figures["id"]) == list(published["id"])
    assert list(figures.columns[:2]) == ["id", "wave"]
    assert {"published", "estimate", "ci_low", "ci_high", "n", "within_ci"} <= set(figures)
    assert figures["within_ci"].all(), figures[~figures["within_ci"]]


def test_report_is_self_contained_with_synthetic_banner(synthetic_run):
    tmp, _, _ = synthetic_run
    for language, banner in [
        ("nl", "Synthetische demonstratiedata"),
        ("en", "Synthetic demonstration data"),
    ]:
        html = (tmp / f"results/report/{language}/index.html").read_text(encoding="utf-8")
        assert banner in html
        assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", html)
        figures = pd.read_csv(tmp / "results/tables/kerncijfers.csv")
        assert html.count("<tr>") >= len(figures)


def test_tables_annex_per_language_linked_from_the_report(synthetic_run):
    tmp, _, _ = synthetic_run
    for language, name in [("nl", "tabellen.xlsx"), ("en", "tables.xlsx")]:
        workbook = tmp / "results/tables" / name
        with zipfile.ZipFile(workbook) as archive:
            assert "xl/workbook.xml" in archive.namelist()
        html = (tmp / f"results/report/{language}/index.html").read_text(encoding="utf-8")
        assert f'<a href="../../tables/{name}" download>' in html


def test_second_run_does_nothing(synthetic_run):
    tmp, config, _ = synthetic_run
    before = {p: p.stat().st_mtime_ns for p in (tmp / "results/tables").glob("*.csv")}
    done = neacovid("run", "--configfile", str(config))
    assert done.returncode == 0
    after = {p: p.stat().st_mtime_ns for p in (tmp / "results/tables").glob("*.csv")}
    assert before == after


# -- bad input ----------------------------------------------------------------


@pytest.fixture(scope="module")
def real_files(synthetic_run, tmp_path_factory):
    """Two waves of 'real' files (synthetic ones, as a user would bring them)."""
    tmp, _, _ = synthetic_run
    raw = tmp_path_factory.mktemp("raw")
    files = {}
    for wave in ["2019", "2021-11"]:
        target = raw / f"{wave}.sav"
        target.write_bytes((tmp / "synthetic" / f"{wave}.sav").read_bytes())
        files[wave] = str(target)
    return raw, files


def _real_config(tmp: Path, files: dict, name: str) -> Path:
    return write_config(
        tmp / f"{name}.yaml",
        {
            "results_dir": str(tmp / f"results-{name}"),
            "data": {"source": "real", "waves": list(files), "files": files},
        },
    )


def _assert_one_line_error(done, *words):
    assert done.returncode == 2, done.stdout + done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_file_lacking_a_mapped_variable(real_files):
    raw, files = real_files
    bad = dict(files)
    bad["2021-11"] = str(raw / "no_weight.sav")
    Path(bad["2021-11"]).write_bytes(Path(files["2021-11"]).read_bytes())
    frame, _ = pyreadstat.read_sav(bad["2021-11"], metadataonly=True)
    weight = next(c for c in frame.columns if "ophoog" in c.lower())
    rewrite(Path(bad["2021-11"]), lambda f: f.drop(columns=weight))
    done = neacovid("run", "--configfile", str(_real_config(raw, bad, "noweight")))
    _assert_one_line_error(done, "no_weight.sav", "2021-11", weight)
    assert not (raw / "results-noweight" / "harmonized").exists()


def test_weight_with_missing_values(real_files):
    raw, files = real_files
    bad = dict(files)
    bad["2019"] = str(raw / "weight_na.sav")
    Path(bad["2019"]).write_bytes(Path(files["2019"]).read_bytes())
    frame, _ = pyreadstat.read_sav(bad["2019"], metadataonly=True)
    weight = next(c for c in frame.columns if "gewicht" in c.lower())

    def blank(f):
        f.loc[f.index[:5], weight] = float("nan")
        return f

    rewrite(Path(bad["2019"]), blank)
    done = neacovid("run", "--configfile", str(_real_config(raw, bad, "weightna")))
    _assert_one_line_error(done, "weight_na.sav", "2019", weight)
    assert not (raw / "results-weightna" / "tables").exists()


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"data": {"waves": ["2019", "2022-01"]}}, ["2022-01", "data.waves"]),
        (
            {"data": {"source": "real", "files": {"2019": "/nonexistent/nea.sav"}}},
            ["/nonexistent/nea.sav", "2019"],
        ),
        ({"tables": {"level": "high"}}, ["tables.level"]),
        ({"tables": {"colour": "red"}}, ["unknown key 'colour'", "tables"]),
    ],
)
def test_bad_config(tmp_path, overrides, words):
    config = write_config(tmp_path / "bad.yaml", {"results_dir": str(tmp_path / "r"), **overrides})
    done = neacovid("run", "--configfile", str(config))
    _assert_one_line_error(done, *words)
    assert not (tmp_path / "r" / "tables").exists()


def test_missing_configfile(tmp_path):
    done = neacovid("run", "--configfile", str(tmp_path / "nope.yaml"))
    _assert_one_line_error(done, "nope.yaml", "does not exist")


def test_inspect_lists_variables_and_matching_waves(synthetic_run):
    tmp, _, _ = synthetic_run
    done = neacovid("inspect", str(tmp / "synthetic" / "2021-11.sav"))
    assert done.returncode == 0, done.stderr
    assert "2021-11" in done.stdout
    assert "weet niet" in done.stdout.lower() or "missing" in done.stdout.lower()


def test_synth_cli(tmp_path):
    done = neacovid("synth", "--out", str(tmp_path), "--scale", "0.01", "--seed", "7")
    assert done.returncode == 0, done.stderr
    assert len(list(tmp_path.glob("*.sav"))) == 6


def test_no_record_level_data_outside_harmonized(synthetic_run):
    """Only results/harmonized and analysis.parquet may hold respondent rows."""
    tmp, _, _ = synthetic_run
    results = tmp / "results"
    ids = set(pd.read_parquet(results / "analysis.parquet")["resp_id"].astype(str))
    token = re.compile(r"(?<![\d.])(\d{4,})(?![\d.])")
    scanned = 0
    for path in results.rglob("*"):
        if not path.is_file() or path.name == "analysis.parquet":
            continue
        if "harmonized" in path.relative_to(results).parts:
            continue
        if path.suffix in {".csv", ".html", ".json", ".log", ".svg", ".ipynb", ".md"}:
            text = path.read_text(encoding="utf-8", errors="replace")
            leaked = ids & set(token.findall(text))
            assert not leaked, f"{path} contains respondent ids, e.g. {sorted(leaked)[:3]}"
            scanned += 1
        if path.suffix == ".csv":
            table = pd.read_csv(path)
            assert "resp_id" not in table.columns
    assert scanned >= 20


def test_disclosure_rules_hold_in_every_table(synthetic_run):
    tmp, _, _ = synthetic_run
    rules = yaml.safe_load((REPO / "config.yaml").read_text())["disclosure"]
    tables = sorted((tmp / "results/tables").glob("*.csv"))
    tables += sorted((tmp / "results/models").glob("*.csv"))
    statuses = set()
    for path in tables:
        table = pd.read_csv(path)
        assert {"status", "reason"} <= set(table.columns), path.name
        # the people behind a cell (a numerator such as n_stayed is checked by min_n
        # with its complement, not by the reliability flags)
        counts = ("n", "base_n", "n_a", "n_b", "n_baseline", "n_stayers", "n_leavers")
        n = table[[c for c in counts if c in table]].min(axis=1)
        shown = table["status"].isin(["ok", "indicative"])
        assert (n[shown] >= rules["min_n"]).all(), path.name
        assert (table.loc[shown & (n < rules["flag_n"]), "status"] == "indicative").all(), path.name
        hidden = table[table["status"] == "suppressed"]
        numbers = [
            c for c in ("estimate", "diff", "se", "ci_low", "ci_high", "n", "p_value") if c in table
        ]
        assert hidden[numbers].isna().all().all(), path.name
        statuses |= set(table["status"])
    # at scale 0.05 the small cells exist: the rules are really exercised
    assert {"ok", "indicative", "suppressed"} <= statuses
    check = pd.read_csv(tmp / "results/output_check.csv")
    flagged = sum(pd.read_csv(p)["status"].isin(["suppressed", "indicative"]).sum() for p in tables)
    assert len(check) == flagged


def test_provenance_records_inputs_config_versions_git(synthetic_run):
    tmp, _, _ = synthetic_run
    record = json.loads((tmp / "results/provenance.json").read_text())
    assert len(record["inputs"]) == 6
    first = record["inputs"][0]
    assert len(first["sha256"]) == 64 and first["rows_read"] > 0
    assert record["totals"]["rows_read"] == sum(i["rows_read"] for i in record["inputs"])
    assert record["config"]["results_dir"] == str(tmp / "results")
    assert record["packages"]["pandas"] == pd.__version__
    assert set(record["git"]) == {"commit", "clean"}


class _Cells(HTMLParser):
    """The text of every table row inside the section with the given id."""

    def __init__(self, section: str):
        super().__init__()
        self.section, self.inside, self.depth = section, False, 0
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "section" and attrs.get("id") == self.section:
            self.inside = True
        if self.inside and tag == "tr":
            self.rows.append([])
        if self.inside and tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "section" and self.inside:
            self.inside = False
        if self.inside and tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


@pytest.mark.parametrize("language", ["nl", "en"])
def test_report_key_figures_equal_kerncijfers(synthetic_run, language):
    from neacovid.publish.words import format_number, format_percent

    tmp, _, _ = synthetic_run
    html = (tmp / f"results/report/{language}/index.html").read_text(encoding="utf-8")
    parser = _Cells("key_figures")
    parser.feed(html)
    rows = [r for r in parser.rows if len(r) == 9][1:]  # without the header row
    figures = pd.read_csv(tmp / "results/tables/kerncijfers.csv")
    adjusted = pd.read_csv(tmp / "results/tables/sensitivity_key_figures.csv")
    adjusted = adjusted[adjusted["version"] == "attrition-adjusted weights"].set_index("id")
    assert len(rows) == len(figures)
    for row, (_, figure) in zip(rows, figures.iterrows(), strict=True):
        assert row[3] == format_number(figure["published"], language, 1)
        other = adjusted.loc[figure["id"]]
        if other["status"] in ("ok", "indicative"):
            mark = "*" if other["status"] == "indicative" else ""
            assert row[8] == format_percent(other["estimate"] / 100, language) + mark
        else:
            assert row[8] == "–"
        if figure["status"] in ("ok", "indicative"):
            mark = "*" if figure["status"] == "indicative" else ""
            assert row[4] == format_percent(figure["estimate"] / 100, language) + mark
            low = format_number(figure["ci_low"], language, 1)
            high = format_number(figure["ci_high"], language, 1)
            assert row[5] == f"{low}–{high}"
        else:
            assert row[4] == "–"


@pytest.mark.parametrize("language", ["nl", "en"])
def test_every_figure_exists_and_is_in_the_report(synthetic_run, language):
    tmp, _, _ = synthetic_run
    out = tmp / "results/figures" / language
    manifest = json.loads((out / "figures.json").read_text(encoding="utf-8"))
    html = (tmp / f"results/report/{language}/index.html").read_text(encoding="utf-8")
    assert len(manifest["figures"]) >= 6
    for entry in manifest["figures"]:
        svg, png = out / entry["svg"], out / entry["png"]
        assert svg.stat().st_size > 1000 and png.stat().st_size > 1000
        encoded = base64.b64encode(svg.read_bytes()).decode("ascii")
        assert encoded in html, f"{entry['svg']} is not in the report"
        assert str(markupsafe.escape(entry["alt"])) in html
    assert html.count("<img ") == len(manifest["figures"])
    headings = re.findall(r"<h([1-6])", html)
    levels = [int(h) for h in headings]
    assert levels[0] == 1
    assert all(b - a <= 1 for a, b in zip(levels, levels[1:], strict=False))
    if language == "nl":
        assert "15-24 jaar" in html and re.search(r"\d,\d%", html)


def test_notebooks_executed_without_record_level_output(synthetic_run):
    tmp, _, _ = synthetic_run
    for name in ["01_explore", "02_custom_breakdown", "03_panel_transitions"]:
        executed = json.loads((tmp / f"results/notebooks/{name}.ipynb").read_text())
        codes = [c for c in executed["cells"] if c["cell_type"] == "code"]
        assert all(c.get("outputs") is not None for c in codes)
        assert any(c.get("outputs") for c in codes)
        html = (tmp / f"results/notebooks/{name}.html").read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", html)


def test_snakemake_report_zip(synthetic_run):
    tmp, config, _ = synthetic_run
    target = tmp / "snakemake-report.zip"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "snakemake",
            "--cores",
            "1",
            "--configfile",
            str(config),
            "--report",
            str(target),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    with zipfile.ZipFile(target) as archive:
        names = archive.namelist()
    assert any(n.endswith("kerncijfers.csv") for n in names)
    assert any(n.endswith(".svg") for n in names)


def test_killed_run_then_rerun_gives_the_bytes_of_an_uninterrupted_run(synthetic_run):
    """A run from an empty results/ is SIGKILLed mid-way (no chance to clean up), then
    `neacovid run` again: incomplete outputs are redone, and every output equals the
    session's uninterrupted run byte for byte (same config, same paths)."""
    tmp, config, _ = synthetic_run
    results = tmp / "results"
    first = tmp / "results-first"
    results.rename(first)
    process = subprocess.Popen(
        [sys.executable, "-m", "neacovid.cli", "run", "--configfile", str(config)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 120
    while (
        not (results / "analysis.parquet").exists()
        and time.monotonic() < deadline
        and process.poll() is None
    ):
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    # The killed run's Snakemake gets SIGTERM from the kernel and stops its jobs; until
    # it is gone it holds the lock, and a rerun says so. Then the rerun goes ahead.
    deadline = time.monotonic() + 60
    done = neacovid("run", "--configfile", str(config))
    while "another run is writing" in done.stderr and time.monotonic() < deadline:
        time.sleep(1)
        done = neacovid("run", "--configfile", str(config))
    assert done.returncode == 0, done.stderr
    assert not list(results.rglob("*.tmp"))
    compared = 0
    for path in sorted(first.rglob("*")):
        relative = path.relative_to(first)
        if not path.is_file() or relative.parts[0] == "logs":
            continue  # logs hold timings
        again = results / relative
        assert again.read_bytes() == path.read_bytes(), f"{relative} differs between runs"
        compared += 1
    assert compared >= 30


def test_two_runs_on_one_results_dir_are_refused(synthetic_run):
    tmp, config, _ = synthetic_run
    with open(tmp / "results/.neacovid-run.lock", "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        done = neacovid("run", "--configfile", str(config))
    assert done.returncode == 2
    assert "another run is writing" in done.stderr


def test_one_design_a_wave_has_one_se_everywhere(synthetic_run):
    """Tables, key figures and changes use the one panel design: the same cell has the
    same SE in each, and se_independent is built from the tables' per-wave SEs."""
    tmp, _, _ = synthetic_run
    tables = tmp / "results/tables"
    text = {"wave": str, "base": str, "category": str, "group": str}
    burnout = pd.read_csv(tables / "burnout_by_wave.csv", dtype=text)
    burnout = burnout[burnout["category"].isin(["1", "1.0"])].set_index("wave")
    changes = pd.read_csv(tables / "changes_vs_2019.csv", dtype=text)
    overall = changes[
        (changes["indicator"] == "burnout")
        & (changes["breakdown"] == "all")
        & (changes["status"] == "ok")
    ]
    assert len(overall) >= 4
    for row in overall.itertuples():
        expected = (burnout.loc[row.wave, "se"] ** 2 + burnout.loc[row.base, "se"] ** 2) ** 0.5
        assert row.se_independent == pytest.approx(expected, rel=1e-10)
        assert row.estimate == pytest.approx(burnout.loc[row.wave, "estimate"], rel=1e-12)
    key = pd.read_csv(tables / "kerncijfers.csv", dtype=text)
    location = pd.read_csv(tables / "location_by_wave.csv", dtype=text).set_index(
        ["wave", "category"]
    )
    employees = key[
        (key["population"] == "employees")
        & (key["indicator"] == "location")
        & (key["status"] != "suppressed")
    ]
    assert len(employees)
    for row in employees.itertuples():
        assert row.se == pytest.approx(
            100 * location.loc[(row.wave, row.category), "se"], rel=1e-10
        )
    check = json.loads((tmp / "results/design_check.json").read_text())
    assert check["design"]["strata"] == "stratum_2019" and check["design"]["psu"] == "resp_id"
    assert check["calibration_cells"] > check["calibration_rank"] > 0
    analysis = pd.read_parquet(tmp / "results/analysis.parquet")
    # the 2019 stratum of every respondent, in every wave
    strata = analysis.groupby("resp_id")["stratum_2019"].nunique()
    assert (strata == 1).all()
    first = analysis[analysis["wave"] == "2019"].set_index("resp_id")["stratum"]
    later = analysis[analysis["wave"] != "2019"]
    assert (later["stratum_2019"].to_numpy() == first[later["resp_id"]].to_numpy()).all()


@pytest.mark.parametrize("language", ["nl", "en"])
def test_report_says_whom_the_panel_groups_hold(synthetic_run, language):
    """Retention as in attrition.csv, the young-worker table as in the tables, and
    groups labelled at the time or in 2019."""
    from neacovid.publish.words import format_number, words

    tmp, _, _ = synthetic_run
    t = words("report_text", language)
    html = (tmp / f"results/report/{language}/index.html").read_text(encoding="utf-8")
    parser = _Cells("panel")
    parser.feed(html)
    retention = pd.read_csv(tmp / "results/tables/attrition.csv", dtype={"wave": str})
    retention = retention[retention["breakdown"] == "all"]
    rows = [r for r in parser.rows if len(r) == 5][1 : len(retention) + 1]
    assert [r[1] for r in rows] == [format_number(n, language, 0) for n in retention["n_stayed"]]
    parser = _Cells("young")
    parser.feed(html)
    now = pd.read_csv(tmp / "results/tables/burnout_by_age_group.csv", dtype={"wave": str})
    first = now[
        (now["age_group"] == "15-24") & (now["category"] == 1) & (now["wave"] == "2019")
    ].iloc[0]
    young = [r for r in parser.rows if len(r) == 5]
    assert young[1][1] == format_number(first["n"], language, 0)
    assert [r[2] for r in young[1:]] == ["15", "15", "16", "16", "17", "18"]
    assert t["at_the_time"].format(group=t["categories"]["home"]) in html
    assert t["sections"]["panel"] in html
    assert "p_holm" not in html
