"""The tables annex (results/tables/tabellen.xlsx, tables.xlsx) on a small run.

The session's scale-0.05 run of the whole pipeline (tests/conftest.py), where
suppressed, indicative and empty cells all occur; the workbooks are read back
with openpyxl as a reader's program would, and every table sheet is checked
against the CSV it comes from. Further cases (a ``level`` column of 0.9,
another multiple-testing method, a model that could not be estimated) rewrite
copies of that run's CSVs and call `write_workbook` directly; the report's
link is checked on a report rendered from the run's tables
(tests/test_workflow.py checks it on the full pipeline's report).
"""

from __future__ import annotations

import functools
import re
import shutil
import zipfile
from pathlib import Path
from urllib.parse import unquote

import openpyxl
import pandas as pd
import pytest

from neacovid.data.config import load_config
from neacovid.publish.disclosure import DisclosureRules
from neacovid.publish.spreadsheet import (
    MARK_NOT_APPLICABLE,
    MARK_SUPPRESSED,
    AnnexInputs,
    config_hash,
    read_csv,
    sheet_names,
    write_workbook,
)
from neacovid.publish.tables import DERIVED_FROM, table_specs

REPO = Path(__file__).resolve().parents[1]
WORKBOOKS = {"nl": "tabellen.xlsx", "en": "tables.xlsx"}
FIXED = {"nl": ("Voorblad", "Inhoud", "Toelichting"), "en": ("Cover_sheet", "Contents", "Notes")}
MARKERS = {"[x]", "[u]", "[z]"}
ADJUSTMENTS = {"holm": "Holm", "bh": "Benjamini-Hochberg"}
HIDDEN = ("suppressed", "empty", "not_estimable")


@pytest.fixture(scope="module")
def run(pipeline_small):
    """The session's pipeline run: (results directory, config)."""
    assert pipeline_small.done.returncode == 0, pipeline_small.done.stderr[-3000:]
    return pipeline_small.results, load_config(pipeline_small.config)


def _inputs(
    results: Path, config: dict, tables: Path | None = None, models: Path | None = None
) -> AnnexInputs:
    tables = tables or results / "tables"
    models = models or results / "models"
    spec = config["tables"]
    names = [
        s.name for s in table_specs(spec["shares"], spec["means"], spec["breakdowns"], DERIVED_FROM)
    ]
    base = config["compare"]["base"]
    indicators = config["models"]["indicators"]
    return AnnexInputs(
        estimate_tables=[tables / f"{n}.csv" for n in names],
        key_figures=tables / "kerncijfers.csv",
        changes=[tables / f"changes_vs_{base}.csv", tables / "changes_consecutive.csv"],
        contrasts=tables / "contrasts.csv",
        did=tables / "did.csv",
        test=tables / "tests_location_by_age.csv",
        models=[models / f"{i}_logit.csv" for i in indicators],
        model_tests=[models / f"{i}_tests.csv" for i in indicators],
        attrition=tables / "attrition.csv",
        attrition_stayers=tables / "attrition_stayers.csv",
        attrition_model=tables / "attrition_model.csv",
        attrition_model_tests=tables / "attrition_model_tests.csv",
        r_indicators=tables / "r_indicators.csv",
        sensitivity=tables / "sensitivity_attrition.csv",
        sensitivity_key_figures=tables / "sensitivity_key_figures.csv",
        provenance=results / "provenance.json",
    )


def _book(run, language: str):
    """The run's workbook, read once per module (the tests only read it)."""
    results, _ = run
    return _load(results / "tables" / WORKBOOKS[language])


@functools.cache
def _load(path: Path):
    return openpyxl.load_workbook(path)


def _table(ws) -> tuple[list[str], list[list]]:
    """The header and the data rows (cells) of the one Excel table of a sheet."""
    (table,) = ws.tables.values()
    rows = list(ws[table.ref])
    return [c.value for c in rows[0]], [list(r) for r in rows[1:]]


def _values(ws) -> list[dict]:
    header, rows = _table(ws)
    return [dict(zip(header, [c.value for c in row], strict=True)) for row in rows]


def _table_sheets(book, language: str):
    return [book[n] for n in book.sheetnames if n not in FIXED[language]]


def _source(ws) -> str:
    """The CSV a table sheet comes from (its source line names it)."""
    for row in ws.iter_rows(min_row=1, max_row=6, max_col=1, values_only=True):
        match = re.search(r"\b((?:tables|models)/[\w-]+\.csv)\.$", str(row[0] or ""))
        if match:
            return match[1]
    raise AssertionError(f"{ws.title}: no source line")


def _rows_of(results: Path, ws, config: dict) -> pd.DataFrame:
    """The CSV rows a table sheet shows: a comparison's shares on its sheet, its
    means on <name>_means."""
    csv = read_csv(results / _source(ws))
    column = "outcome" if "outcome" in csv.columns else "indicator"
    if column in csv.columns and {"diff", "did"} & set(csv.columns):
        means = csv[column].isin(config["tables"]["means"])
        csv = csv[means if ws.title.endswith("_means") else ~means]
    return csv.reset_index(drop=True)


# -- structure -----------------------------------------------------------------------


@pytest.mark.parametrize("language", ["nl", "en"])
def test_cover_contents_notes_then_one_table_per_sheet(run, language):
    results, _ = run
    book = _book(run, language)
    assert tuple(book.sheetnames[:3]) == FIXED[language]
    cover = book[FIXED[language][0]]
    assert not cover.tables  # text only
    sources = set()
    for ws in _table_sheets(book, language):
        assert len(ws.tables) == 1, ws.title  # one table per sheet
        assert ws["A1"].value and ws["A1"].font.b, ws.title  # a title in A1
        sources.add(_source(ws))
    # every published table of the run (attrition, did, model tests too), nothing else
    expected = {f"tables/{p.name}" for p in (results / "tables").glob("*.csv")}
    expected |= {f"models/{p.name}" for p in (results / "models").glob("*.csv")}
    assert {
        "tables/did.csv",
        "tables/r_indicators.csv",
        "models/burnout_tests.csv",
        "tables/sensitivity_key_figures.csv",
    } <= expected
    assert sources == expected
    for name in book.sheetnames:
        assert len(name) <= 31
    assert len({n.lower() for n in book.sheetnames}) == len(book.sheetnames)


@pytest.mark.parametrize("language", ["nl", "en"])
def test_no_merged_cells_and_no_blank_rows_above_tables(run, language):
    book = _book(run, language)
    for ws in book.worksheets:
        assert not ws.merged_cells.ranges, ws.title
    for ws in _table_sheets(book, language):
        (table,) = ws.tables.values()
        first = int(re.search(r"\d+", table.ref)[0])
        above = [ws.cell(row, 1).value for row in range(1, first)]
        assert all(above), f"{ws.title}: a blank row above the table"


@pytest.mark.parametrize("language", ["nl", "en"])
def test_contents_links_to_every_table_sheet(run, language):
    book = _book(run, language)
    contents = book[FIXED[language][1]]
    header, rows = _table(contents)
    assert len(header) == 4
    linked = []
    for row in rows:
        location = row[0].hyperlink.location
        name = re.fullmatch(r"'(.+)'!A1", location)[1]
        assert name == row[0].value
        assert book[name]["A1"].value == row[1].value  # the title shown is the sheet's
        assert _source(book[name]) == row[3].value
        linked.append(name)
    assert linked == [ws.title for ws in _table_sheets(book, language)]


@pytest.mark.parametrize("language", ["nl", "en"])
def test_notes_numbered_with_the_config_rules(run, language):
    _, config = run
    book = _book(run, language)
    notes = book[FIXED[language][2]]
    header, rows = _table(notes)
    label = "toelichting" if language == "nl" else "note"
    assert [r[0].value for r in rows] == [f"{label} {i}" for i in range(1, len(rows) + 1)]
    markers = [r[1].value[:3] for r in rows[:3]]
    assert markers == ["[x]", "[u]", "[z]"]  # the lines above each table say "notes 1 to 3"
    text = " ".join(r[1].value for r in rows)
    rules = DisclosureRules.from_config(config["disclosure"])
    # the rules as disclosure applies them, every number from the config
    for number in (rules.min_n, rules.flag_n, rules.min_df, round(100 * rules.max_ci_width)):
        assert f" {number} " in text, number
    assert f"{round(100 * rules.max_relative_width)}%" in text
    assert "Korn-Graubard" in text
    max_rse = str(rules.max_rse)
    assert (max_rse if language == "en" else max_rse.replace(".", ",")) in text
    assert config["tables"]["ci"] in text and config["design"]["weight"] in text
    baseline = str(config["data"]["baseline"])
    assert f"'in {baseline}'" in text  # groups at the time and in the baseline wave
    alpha = str(config["compare"]["alpha"])
    assert (alpha if language == "en" else alpha.replace(".", ",")) in text
    assert "Benjamini-Hochberg" in text and "Holm" in text
    # each sheet refers to notes in number order
    for ws in _table_sheets(book, language):
        line = str(ws["A3"].value).split("(")[0]  # not the closing "notes 1 to 3"
        numbers = [int(n) for n in re.findall(rf"{label} (\d+)", line)]
        assert numbers == sorted(numbers) and numbers[:3] == [1, 2, 3], (ws.title, line)


# -- cells ---------------------------------------------------------------------------

# Identifier columns hold text that may look like a number (wave "2019").
IDENTIFIERS = ("(year-month)", "(jaar-maand)", "(code)")


@pytest.mark.parametrize("language", ["nl", "en"])
def test_numbers_are_numbers_and_text_is_words_or_markers(run, language):
    book = _book(run, language)
    numbers = 0
    for ws in _table_sheets(book, language):
        header, rows = _table(ws)
        for row in rows:
            for name, cell in zip(header, row, strict=True):
                assert cell.value is not None, f"{ws.title}: empty cell under {name}"
                if cell.data_type == "n":
                    numbers += 1
                    assert cell.number_format != "General", f"{ws.title}: {name}"
                    continue
                if name.endswith(IDENTIFIERS):
                    continue
                try:
                    float(str(cell.value).replace(",", "."))
                except ValueError:
                    continue
                raise AssertionError(f"{ws.title}: {name} holds a number as text: {cell.value}")
    assert numbers > 10_000


def _checks(ws, header: list[str], csv: pd.DataFrame) -> dict[str, tuple[str, float, int]]:
    """English header -> (CSV column, scale, decimals) of the numbers checked."""
    source = _source(ws)
    checks = {
        "p-value": ("p_value", 1.0, 4),
        "Respondents (n)": ("n", 1.0, 0),
        "Odds ratio (ratio)": ("odds_ratio", 1.0, 2),
    }
    mean = ws.title.endswith("_means") or ("_by_" in source and "category" not in csv.columns)
    if mean:
        estimate = [h for h in header if re.fullmatch(r"Estimate \(.+\)", h)]
        checks.update({h: ("estimate", 1.0, 2) for h in estimate})
    else:
        # shares 0-1 are shown in percent; the key figures are in percent already
        scale = 1.0 if "kerncijfers" in source or "key_figures" in source else 100.0
        checks["Estimate (%)"] = ("estimate", scale, 1)
        checks["Difference (percentage points)"] = ("diff", scale, 1)
        checks["Difference in differences (percentage points)"] = ("did", scale, 1)
        checks.update(
            {
                h: ("estimate_stayers", scale, 1)
                for h in header
                if h.startswith("Stayers: estimate in ")
            }
        )
    for key in ("p_adjusted", "p_holm"):
        methods = {str(m) for m in csv.get("adjustment", pd.Series(dtype=str)).dropna()}
        method = ADJUSTMENTS[methods.pop()] if len(methods) == 1 else "Holm"
        checks[f"p-value after {method} correction"] = (key, 1.0, 4)
    return {h: c for h, c in checks.items() if c[0] in csv.columns and h in header}


def test_every_sheet_equals_its_csv_rounded_with_markers_in_hidden_rows(run):
    """Each table sheet row by row against its CSV: the numbers of a shown row are the
    CSV's rounded (shares in percent), every number of a hidden row is the marker,
    the verdict is the CSV's as yes/no, the status says [u] for an indicative row."""
    results, config = run
    book = _book(run, "en")
    checked = {
        "ok": 0,
        "indicative": 0,
        "suppressed": 0,
        "empty": 0,
        "significant": 0,
        "numbers": 0,
    }
    for ws in _table_sheets(book, "en"):
        csv = _rows_of(results, ws, config)
        header, rows = _table(ws)
        assert len(rows) == max(len(csv), 1), ws.title
        if not len(csv):
            continue
        checks = _checks(ws, header, csv)
        status = header.index("Status")
        # a published figure is public: it stays beside a suppressed estimate
        numeric = [
            i
            for i, name in enumerate(header)
            if i != status
            and not name.startswith("Published")
            and any(r[i].data_type == "n" for r in rows)
        ]
        for (_, record), row in zip(csv.iterrows(), rows, strict=True):
            values = dict(zip(header, row, strict=True))
            flag = values["Status"].value
            checked[record["status"]] = checked.get(record["status"], 0) + 1
            if record["status"] in HIDDEN:
                marker = (
                    MARK_SUPPRESSED if record["status"] == "suppressed" else (MARK_NOT_APPLICABLE)
                )
                hidden = [row[i] for i in numeric]
                assert all(c.data_type == "s" and c.value == marker for c in hidden), (
                    ws.title,
                    [c.value for c in hidden],
                )
                assert flag.startswith(marker)
                continue
            assert flag.startswith("[u]") == (record["status"] == "indicative"), ws.title
            for name, (column, scale, digits) in checks.items():
                cell, value = values[name], record[column]
                if pd.isna(value):
                    assert cell.value == MARK_NOT_APPLICABLE, (ws.title, name)
                    continue
                assert cell.data_type == "n", (ws.title, name, cell.value)
                assert cell.value == pytest.approx(round(value * scale, digits), abs=1e-9), (
                    ws.title,
                    name,
                    value,
                )
                checked["numbers"] += 1
            verdict = [h for h in header if h.startswith("Significant after")]
            if verdict:
                expected = {"True": "yes", "False": "no"}.get(
                    str(record["significant"]), MARK_NOT_APPLICABLE
                )
                assert values[verdict[0]].value == expected, ws.title
                checked["significant"] += expected == "yes"
    # the run exercises every status, significant tests and thousands of numbers
    assert all(checked[k] for k in ("ok", "indicative", "suppressed", "empty", "significant")), (
        checked
    )
    assert checked["numbers"] > 5_000


@pytest.mark.parametrize("language", ["nl", "en"])
def test_every_suppressed_row_of_every_csv_is_marked(run, language):
    results, _ = run
    book = _book(run, language)
    marked = sum(
        str(row[-1].value).startswith("[x]")
        for ws in _table_sheets(book, language)
        for row in _table(ws)[1]
    )
    suppressed = sum(
        (read_csv(p)["status"] == "suppressed").sum()
        for p in [*(results / "tables").glob("*.csv"), *(results / "models").glob("*.csv")]
        if p.stat().st_size
    )
    assert suppressed > 0 and marked == suppressed


@pytest.mark.parametrize("language", ["nl", "en"])
def test_adjustment_method_in_the_headers_is_the_csvs(run, language):
    results, config = run
    book = _book(run, language)
    after = "p-value after " if language == "en" else "p-waarde na "
    seen = 0
    for ws in _table_sheets(book, language):
        csv = _rows_of(results, ws, config)
        header, _ = _table(ws)
        adjusted = [h for h in header if h.startswith(after)]
        if "p_adjusted" not in csv.columns:
            continue
        methods = (
            {str(m) for m in csv["adjustment"].dropna()} if "adjustment" in csv else {"holm"}
        )  # models/<indicator>_logit.csv: Holm over the effects
        (method,) = methods
        assert len(adjusted) == 1, (ws.title, header)
        assert ADJUSTMENTS[method] in adjusted[0], (ws.title, adjusted)
        assert any(
            h.startswith(("Significant", "Significant na")) and ADJUSTMENTS[method] in h
            for h in header
        ), ws.title
        assert any(h.startswith(("Test family", "Toetsfamilie")) for h in header), ws.title
        seen += 1
    assert seen >= 10  # changes, contrasts, did, the test, models, stayers


def test_headers_in_words_with_units(run):
    _, config = run
    level = f"{round(100 * config['tables']['level'])}%"
    baseline = str(config["data"]["baseline"])
    en = _book(run, "en")
    header, _ = _table(en["burnout_by_location"])
    assert header == [
        "Indicator",
        "Wave (year-month)",
        "Work location at the time of the wave",
        "Category",
        "Estimate (%)",
        "Standard error (percentage points)",
        f"{level} CI lower (%)",
        f"{level} CI upper (%)",
        "Respondents (n)",
        "Respondents in the category (n)",
        "Weighted count (rounded to 1,000)",
        "Design effect (ratio)",
        "Degrees of freedom",
        "Status",
    ]
    header, _ = _table(en[f"burnout_by_age_group_{baseline}"])
    assert header[2] == f"Age group in {baseline} (years)"
    assert en[f"burnout_by_location_{baseline}"]["A1"].value == (
        f"Burn-out complaints by wave and work location in {baseline}"
    )
    header, _ = _table(en["sitting_hours_by_wave"])
    assert "Estimate (hours per working day)" in header
    nl = _book(run, "nl")
    header, _ = _table(nl["burnout_by_location"])
    assert {
        "Schatting (%)",
        f"Ondergrens {level}-interval (%)",
        "Respondenten (n)",
        "Gewogen aantal (afgerond op 1.000)",
        "Werklocatie op het moment van de meting",
    } <= set(header)
    header, _ = _table(nl[f"burnout_by_age_group_{baseline}"])
    assert header[2] == f"Leeftijdsgroep in {baseline} (jaar)"
    # no CSV column name is left as a header
    for book, language in ((en, "en"), (nl, "nl")):
        for ws in _table_sheets(book, language):
            header, _ = _table(ws)
            raw = [h for h in header if re.fullmatch(r"[a-z_]+", h) and "_" in h]
            assert not raw, (ws.title, raw)


def test_groups_say_at_the_time_or_in_the_baseline_wave(run):
    results, config = run
    baseline = str(config["data"]["baseline"])
    base = config["compare"]["base"]
    book = _book(run, "en")
    changes = read_csv(results / "tables" / f"changes_vs_{base}.csv")
    changes = changes[~changes["indicator"].isin(config["tables"]["means"])]
    shown = [r["Breakdown"] for r in _values(book[f"changes_vs_{base}"])]
    words = {
        "all": "all employees",
        "location": "work location at the time of the wave",
        "age_group": "age group at the time of the wave",
        f"location_{baseline}": f"work location in {baseline}",
        f"age_group_{baseline}": f"age group in {baseline}",
    }
    assert shown == [words[b] for b in changes["breakdown"]]
    assert f"location_{baseline}" in set(changes["breakdown"])
    header, _ = _table(book["contrasts"])
    assert "Work location at the time of the wave" in header
    did = _values(book["did"])
    assert f"Work location in {baseline}" in did[0]
    assert {r["Grouped by"] for r in did} == {f"age group in {baseline}"}
    attrition = {r["Breakdown"] for r in _values(book["attrition"])}
    assert f"sector in {baseline}" in attrition
    terms = {r["Characteristic"] for r in _values(book["attrition_model"])}
    assert f"age group in {baseline}: 35-44" in terms


def test_models_per_wave_with_holm_over_the_effects_only(run):
    results, config = run
    book = _book(run, "en")
    indicator = config["models"]["indicators"][0]
    rows = _values(book[f"{indicator}_logit"])
    csv = read_csv(results / "models" / f"{indicator}_logit.csv")
    assert [r["Wave (year-month)"] for r in rows] == list(csv["wave"])
    adjusted = "p-value after Holm correction"
    for row, (_, record) in zip(rows, csv.iterrows(), strict=True):
        effect = any(f"C({e}" in record["term"] for e in config["models"]["effects"])
        if record["status"] in HIDDEN:
            continue
        # adjustment terms and the intercept have no adjusted p-value: [z]
        assert (row[adjusted] == MARK_NOT_APPLICABLE) == (not effect), row
    tests = _values(book[f"{indicator}_tests"])
    assert {r["Role in the model"] for r in tests} == {"effect (tested)", "adjustment"}
    assert {r["Characteristic"] for r in tests} >= {"work location", "age group"}


def test_shares_and_means_never_share_a_column(run):
    _, config = run
    base = config["compare"]["base"]
    book = _book(run, "en")
    for name in (f"changes_vs_{base}", "did", "contrasts"):
        header, rows = _table(book[name])
        assert any("(percentage points)" in h for h in header)
        assert "Hours sitting per working day" not in {r[0].value for r in rows}
        header, rows = _table(book[f"{name}_means"])
        assert any("(hours per working day)" in h for h in header)
        assert {r[0].value for r in rows} == {"Hours sitting per working day"}
        assert not any("with the answer" in h for h in header)  # a share's counts


def test_cover_says_what_the_data_are_and_where_they_come_from(run):
    import json

    results, _ = run
    provenance = json.loads((results / "provenance.json").read_text(encoding="utf-8"))
    for language, synthetic in (
        ("nl", "Synthetische demonstratiedata"),
        ("en", "Synthetic demonstration data"),
    ):
        cover = _book(run, language)[FIXED[language][0]]
        text = "\n".join(str(c.value) for c in cover["A"] if c.value)
        assert synthetic in text
        assert provenance["git"]["commit"] in text
        assert config_hash(provenance["config"]) in text
        assert "report.release_date" in text  # no release date: a working version
        links = [c.hyperlink.location for c in cover["A"] if c.hyperlink]
        assert links == [f"'{FIXED[language][1]}'!A1", f"'{FIXED[language][2]}'!A1"]


# -- byte stability ------------------------------------------------------------------


def test_byte_identical_across_writes_and_no_clock(run, tmp_path):
    results, config = run
    for language, name in WORKBOOKS.items():
        first, second = tmp_path / f"1-{name}", tmp_path / f"2-{name}"
        write_workbook(first, _inputs(results, config), config, language)
        write_workbook(second, _inputs(results, config), config, language)
        assert first.read_bytes() == second.read_bytes()
        # the pipeline's file is the same bytes
        assert (results / "tables" / name).read_bytes() == first.read_bytes()
        with zipfile.ZipFile(first) as archive:
            core = archive.read("docProps/core.xml").decode()
            assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        assert "1980-01-01T00:00:00Z" in core


def test_release_date_on_the_cover_and_in_the_properties(run, tmp_path):
    results, config = run
    config = {**config, "report": {**config["report"], "release_date": "2026-03-01"}}
    target = tmp_path / "tables.xlsx"
    write_workbook(target, _inputs(results, config), config, "en")
    book = openpyxl.load_workbook(target)
    assert book.properties.created.date().isoformat() == "2026-03-01"
    cover = "\n".join(str(c.value) for c in book["Cover_sheet"]["A"] if c.value)
    assert "2026-03-01" in cover and "report.release_date" not in cover


# -- the confidence level and the adjustment method ---------------------------------


def _copy(results: Path, tmp_path: Path) -> Path:
    tables = tmp_path / "tables"
    shutil.copytree(results / "tables", tables)
    return tables


def test_level_from_the_tables_level_column_else_the_config(run, tmp_path):
    results, config = run
    base = config["compare"]["base"]
    tables = _copy(results, tmp_path)
    for name in ("burnout_by_wave", f"changes_vs_{base}"):
        frame = pd.read_csv(tables / f"{name}.csv", dtype=str)
        frame["level"] = "0.9"
        frame.to_csv(tables / f"{name}.csv", index=False)
    frame = pd.read_csv(tables / "burnout_by_location.csv", dtype=str)
    frame = frame.drop(columns=["level", "ci_method"])
    frame.to_csv(tables / "burnout_by_location.csv", index=False)
    config = {**config, "tables": {**config["tables"], "level": 0.8}}
    target = tmp_path / "tables.xlsx"
    write_workbook(target, _inputs(results, config, tables), config, "en")
    book = openpyxl.load_workbook(target)
    header, _ = _table(book["burnout_by_wave"])
    assert "90% CI lower (%)" in header
    assert "level" not in header and "Confidence level (%)" not in header  # in the header
    header, _ = _table(book[f"changes_vs_{base}"])
    assert "90% CI lower (percentage points)" in header
    assert "90% confidence interval" in book[f"changes_vs_{base}"]["A2"].value
    header, _ = _table(book["burnout_by_location"])
    assert "80% CI lower (%)" in header  # no level column: the config's
    header, _ = _table(book["burnout_by_age_group"])
    assert "95% CI lower (%)" in header  # the run's level column
    notes = " ".join(str(c.value) for c in book["Notes"]["B"] if c.value)
    levels = re.search(r"Confidence intervals: ((?:\d+%, )*\d+%)\.", notes)[1]
    assert sorted(levels.split(", ")) == ["80%", "90%", "95%"]


def test_levels_per_row_get_a_column(run, tmp_path):
    results, config = run
    tables = _copy(results, tmp_path)
    frame = pd.read_csv(tables / "burnout_by_wave.csv", dtype=str)
    frame["level"] = ["0.9" if i % 2 else "0.95" for i in range(len(frame))]
    frame.to_csv(tables / "burnout_by_wave.csv", index=False)
    target = tmp_path / "tables.xlsx"
    write_workbook(target, _inputs(results, config, tables), config, "en")
    header, rows = _table(openpyxl.load_workbook(target)["burnout_by_wave"])
    assert "CI lower (%)" in header and "Confidence level (%)" in header
    levels = [r[header.index("Confidence level (%)")].value for r in rows]
    assert levels[:2] == [95, 90]


def test_adjustment_method_from_the_adjustment_column(run, tmp_path):
    results, config = run
    base = config["compare"]["base"]
    tables = _copy(results, tmp_path)
    frame = pd.read_csv(tables / f"changes_vs_{base}.csv", dtype=str)
    frame["adjustment"] = "bh"
    frame.to_csv(tables / f"changes_vs_{base}.csv", index=False)
    frame = pd.read_csv(tables / "contrasts.csv", dtype=str)
    frame["adjustment"] = ["bh" if i % 2 else "holm" for i in range(len(frame))]
    frame.to_csv(tables / "contrasts.csv", index=False)
    target = tmp_path / "tables.xlsx"
    write_workbook(target, _inputs(results, config, tables), config, "en")
    book = openpyxl.load_workbook(target)
    header, _ = _table(book[f"changes_vs_{base}"])
    assert "p-value after Benjamini-Hochberg correction" in header
    assert "Significant after Benjamini-Hochberg correction (p < 0.05)" in header
    assert not any("Holm" in h for h in header)
    assert "Benjamini-Hochberg correction" in book[f"changes_vs_{base}"]["A2"].value
    # two methods in one table: each row's in a column
    header, rows = _table(book["contrasts"])
    assert "p-value after correction for multiple testing" in header
    methods = [r[header.index("Correction method")].value for r in rows]
    assert methods[:2] == ["Holm", "Benjamini-Hochberg"]


# -- models that could not be estimated ---------------------------------------------


def test_a_model_that_could_not_be_estimated(run, tmp_path):
    results, config = run
    models = tmp_path / "models"
    shutil.copytree(results / "models", models)
    waves = [str(w) for w in config["data"]["waves"]]
    pd.DataFrame(
        {
            "indicator": "lonely",
            "wave": waves,
            "term": "(model)",
            "n": 0,
            "status": "not_estimable",
            "reason": "not estimable: ...",
        }
    ).to_csv(models / "lonely_logit.csv", index=False)
    (models / "lonely_tests.csv").write_text("\n", encoding="utf-8")  # no wave estimable
    # one wave of another model
    frame = pd.read_csv(models / "kans_logit.csv", dtype=str)
    frame = frame[frame["wave"] != waves[0]]
    lost = pd.DataFrame(
        {
            "indicator": ["kans"],
            "wave": [waves[0]],
            "term": ["(model)"],
            "n": ["0"],
            "status": ["not_estimable"],
            "reason": ["..."],
        }
    )
    pd.concat([lost, frame]).to_csv(models / "kans_logit.csv", index=False)
    target = tmp_path / "tables.xlsx"
    write_workbook(target, _inputs(results, config, models=models), config, "en")
    book = openpyxl.load_workbook(target)
    rows = _values(book["lonely_logit"])
    assert [r["Wave (year-month)"] for r in rows] == waves
    for values in rows:
        assert values["Characteristic"] == "Model"
        assert values["Odds ratio (ratio)"] == MARK_NOT_APPLICABLE
        assert values["p-value after Holm correction"] == MARK_NOT_APPLICABLE
        assert values["Status"] == "[z] not estimable"
    (tests,) = _values(book["lonely_tests"])
    assert set(tests.values()) == {MARK_NOT_APPLICABLE}
    first = _values(book["kans_logit"])[0]
    assert first["Characteristic"] == "Model" and first["Status"] == "[z] not estimable"
    assert first["Significant after Holm correction (p < 0.05)"] == MARK_NOT_APPLICABLE


def test_sheet_names_valid_unique_short():
    names = sheet_names(["a" * 40, "A" * 40, "x[1]:y", "Notes", "notes", "History"])
    assert all(len(n) <= 31 for n in names)
    assert len({n.lower() for n in names}) == len(names)
    assert names[2] == "x_1__y"
    assert names[5] != "History"


# -- the report ----------------------------------------------------------------------


@pytest.mark.parametrize("language", ["nl", "en"])
def test_report_links_the_workbook_of_its_language(run, language, tmp_path):
    import json

    from neacovid.workflow import report

    results, config = run
    manifest = tmp_path / "figures.json"  # a report without figures
    manifest.write_text(json.dumps({"figures": []}), encoding="utf-8")
    page = tmp_path / "report" / language / "index.html"
    page.parent.mkdir(parents=True)
    report(
        results_dir=str(results),
        template_dir=str(REPO / "workflow" / "templates"),
        figures_manifest=str(manifest),
        language=language,
        config=config,
        output=str(page),
        workbook=str(tmp_path / "tables" / WORKBOOKS[language]),
    )
    html = page.read_text(encoding="utf-8")
    links = re.findall(r'<a href="([^"]+\.xlsx)"', html)
    assert links == [f"../../tables/{WORKBOOKS[language]}"]
    assert (page.parent / unquote(links[0])).resolve() == (
        tmp_path / "tables" / WORKBOOKS[language]
    ).resolve()


def test_pandas_reads_the_workbook(run):
    results, _ = run
    frame = pd.read_excel(
        results / "tables" / "tables.xlsx", sheet_name="burnout_by_wave", skiprows=4
    )
    assert frame["Estimate (%)"].dtype.kind == "f"
    assert frame["Respondents (n)"].dtype.kind in "if"


def test_release_date_must_be_a_date_in_quotes():
    import copy
    import datetime

    from neacovid.data.config import validate_config
    from neacovid.errors import ConfigError
    from neacovid.publish.spreadsheet import release_date

    config = load_config()
    unquoted = copy.deepcopy(config)
    unquoted["report"]["release_date"] = datetime.date(2026, 3, 1)  # YAML's reading
    with pytest.raises(ConfigError, match=r"report.release_date: write the date in quotes"):
        validate_config(unquoted)
    config["report"]["release_date"] = "2026-02-30"
    validate_config(config)  # the pattern passes ...
    with pytest.raises(ConfigError, match="not a date"):
        release_date(config)  # ... the calendar does not (run.preflight calls this)
