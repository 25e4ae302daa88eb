"""The tables annex (results/tables/tabellen.xlsx, tables.xlsx) on a small run.

One module-scoped run of the workflow up to the workbooks (no figures, report or
notebooks) at the synthetic default's scale 0.05, where suppressed, indicative
and empty cells all occur; the workbooks are read back with openpyxl as a
reader's program would. Further cases (a ``level`` column, a release date, an
unestimable model) rewrite copies of that run's CSVs and call `write_workbook`
directly; the report's link is checked on a report rendered from the run's
tables (tests/test_workflow.py checks it on the full pipeline's report).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from urllib.parse import unquote

import openpyxl
import pandas as pd
import pytest
import yaml

from neacovid.data.config import load_config
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


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """The workflow up to both workbooks and the output check (the report reads it)."""
    tmp = tmp_path_factory.mktemp("annex")
    results = tmp / "results"
    config_file = tmp / "config.yaml"
    config_file.write_text(yaml.safe_dump({
        "results_dir": str(results),
        "data": {"synthetic_dir": str(tmp / "synthetic"), "scale": 0.05},
    }), encoding="utf-8")
    targets = [str(results / "tables" / name) for name in WORKBOOKS.values()]
    targets.append(str(results / "output_check.csv"))
    done = subprocess.run(
        [sys.executable, "-m", "snakemake", *targets, "--cores", "2", "--nolock",
         "--configfile", str(config_file)],
        cwd=REPO, capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return results, load_config(config_file)


def _inputs(results: Path, config: dict, tables: Path | None = None) -> AnnexInputs:
    tables = tables or results / "tables"
    spec = config["tables"]
    names = [s.name for s in table_specs(spec["shares"], spec["means"], spec["breakdowns"],
                                         DERIVED_FROM)]
    base = config["compare"]["base"]
    return AnnexInputs(
        estimate_tables=[tables / f"{n}.csv" for n in names],
        key_figures=tables / "kerncijfers.csv",
        changes=[tables / f"changes_vs_{base}.csv", tables / "changes_consecutive.csv"],
        contrasts=tables / "contrasts.csv",
        test=tables / "tests_location_by_age.csv",
        models=[results / "models" / f"{i}_logit.csv" for i in config["models"]["indicators"]],
        provenance=results / "provenance.json",
    )


def _book(run, language: str):
    results, _ = run
    return openpyxl.load_workbook(results / "tables" / WORKBOOKS[language])


def _table(ws) -> tuple[list[str], list[list]]:
    """The header and the data rows (cells) of the one Excel table of a sheet."""
    (table,) = ws.tables.values()
    rows = list(ws[table.ref])
    return [c.value for c in rows[0]], [list(r) for r in rows[1:]]


def _table_sheets(book, language: str):
    return [book[n] for n in book.sheetnames if n not in FIXED[language]]


def _source(ws) -> str:
    """The CSV a table sheet comes from (its source line names it)."""
    for row in ws.iter_rows(min_row=1, max_row=6, max_col=1, values_only=True):
        match = re.search(r"\b((?:tables|models)/[\w-]+\.csv)\.$", str(row[0] or ""))
        if match:
            return match[1]
    raise AssertionError(f"{ws.title}: no source line")


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
    # every published table of the run, and nothing else
    expected = {f"tables/{p.name}" for p in (results / "tables").glob("*.csv")}
    expected |= {f"models/{p.name}" for p in (results / "models").glob("*.csv")}
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
    text = " ".join(r[1].value for r in rows)
    rules = config["disclosure"]
    for marker in MARKERS:
        assert marker in text
    assert f" {rules['min_n']} " in text and f" {rules['flag_n']} " in text
    assert config["tables"]["ci"] in text and config["design"]["weight"] in text


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


@pytest.mark.parametrize("language", ["nl", "en"])
def test_estimates_equal_the_csvs_rounded_and_hidden_cells_show_markers(run, language):
    results, _ = run
    book = _book(run, language)
    estimate = "Estimate (" if language == "en" else "Schatting ("
    checked = {"ok": 0, "indicative": 0, "suppressed": 0, "empty": 0}
    for ws in _table_sheets(book, language):
        source = _source(ws)
        if "_by_" not in source or source.startswith("tables/tests_"):
            continue
        csv = read_csv(results / source)
        header, rows = _table(ws)
        assert len(rows) == len(csv), ws.title
        column = next(i for i, h in enumerate(header) if h.startswith(estimate))
        status = header.index("Status")
        share = "category" in csv.columns
        for (_, record), row in zip(csv.iterrows(), rows, strict=True):
            cell, flag = row[column], row[status].value
            checked[record["status"]] += 1
            if record["status"] in ("ok", "indicative"):
                assert cell.data_type == "n", (ws.title, cell.value)
                value = 100 * record["estimate"] if share else record["estimate"]
                assert cell.value == round(value, 1 if share else 2)
                assert flag.startswith("[u]") == (record["status"] == "indicative")
            else:
                marker = MARK_SUPPRESSED if record["status"] == "suppressed" else (
                    MARK_NOT_APPLICABLE)
                # every number of a hidden row is the marker, never a number
                hidden = row[column:status]
                assert all(c.data_type == "s" and c.value == marker for c in hidden)
                assert flag.startswith(marker)
    # the run exercises every status
    assert all(checked.values()), checked


@pytest.mark.parametrize("language", ["nl", "en"])
def test_every_suppressed_row_of_every_csv_is_marked(run, language):
    results, _ = run
    book = _book(run, language)
    marked = sum(
        str(row[-1].value).startswith("[x]")
        for ws in _table_sheets(book, language) for row in _table(ws)[1]
    )
    suppressed = sum(
        (read_csv(p)["status"] == "suppressed").sum()
        for p in [*(results / "tables").glob("*.csv"), *(results / "models").glob("*.csv")]
    )
    assert suppressed > 0 and marked == suppressed


def test_headers_in_words_with_units(run):
    _, config = run
    level = f"{round(100 * config['tables']['level'])}%"
    en = _book(run, "en")
    header, _ = _table(en["burnout_by_location"])
    assert header == [
        "Indicator", "Wave (year-month)", "Work location", "Category", "Estimate (%)",
        "Standard error (percentage points)", f"{level} CI lower (%)", f"{level} CI upper (%)",
        "Respondents (n)", "Weighted count (rounded to 1,000)", "Design effect (ratio)",
        "Degrees of freedom", "Status",
    ]
    header, _ = _table(en["sitting_hours_by_wave"])
    assert "Estimate (hours per working day)" in header
    nl = _book(run, "nl")
    header, _ = _table(nl["burnout_by_location"])
    assert {"Schatting (%)", f"Ondergrens {level}-interval (%)", "Respondenten (n)",
            "Gewogen aantal (afgerond op 1.000)"} <= set(header)
    # no CSV column name is left as a header
    for book, language in ((en, "en"), (nl, "nl")):
        for ws in _table_sheets(book, language):
            header, _ = _table(ws)
            raw = [h for h in header if re.fullmatch(r"[a-z_]+", h) and "_" in h]
            assert not raw, (ws.title, raw)


def test_shares_and_means_never_share_a_column(run):
    book = _book(run, "en")
    header, rows = _table(book["changes_vs_2019"])
    assert "Difference (percentage points)" in header
    assert "Hours sitting per working day" not in {r[0].value for r in rows}
    header, rows = _table(book["changes_vs_2019_means"])
    assert "Difference (hours per working day)" in header
    assert {r[0].value for r in rows} == {"Hours sitting per working day"}


def test_cover_says_what_the_data_are_and_where_they_come_from(run):
    import json

    results, _ = run
    provenance = json.loads((results / "provenance.json").read_text(encoding="utf-8"))
    for language, synthetic in (("nl", "Synthetische demonstratiedata"),
                                ("en", "Synthetic demonstration data")):
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


# -- the confidence level ------------------------------------------------------------


def test_level_from_the_tables_level_column_else_the_config(run, tmp_path):
    results, config = run
    tables = tmp_path / "tables"
    shutil.copytree(results / "tables", tables)
    frame = pd.read_csv(tables / "burnout_by_wave.csv", dtype=str)
    frame["level"] = "0.9"
    frame["ci_method"] = "logit"
    frame.to_csv(tables / "burnout_by_wave.csv", index=False)
    config = {**config, "tables": {**config["tables"], "level": 0.8}}
    target = tmp_path / "tables.xlsx"
    write_workbook(target, _inputs(results, config, tables), config, "en")
    book = openpyxl.load_workbook(target)
    header, _ = _table(book["burnout_by_wave"])
    assert "90% CI lower (%)" in header
    assert "level" not in header and "ci_method" not in header  # one level: in the header
    header, _ = _table(book["burnout_by_location"])
    assert "80% CI lower (%)" in header  # no level column: the config's
    notes = " ".join(str(c.value) for c in book["Notes"]["B"] if c.value)
    assert "90%, 80%" in notes or "80%, 90%" in notes


def test_levels_per_row_get_a_column(run, tmp_path):
    results, config = run
    tables = tmp_path / "tables"
    shutil.copytree(results / "tables", tables)
    frame = pd.read_csv(tables / "burnout_by_wave.csv", dtype=str)
    frame["level"] = ["0.9" if i % 2 else "0.95" for i in range(len(frame))]
    frame.to_csv(tables / "burnout_by_wave.csv", index=False)
    target = tmp_path / "tables.xlsx"
    write_workbook(target, _inputs(results, config, tables), config, "en")
    header, rows = _table(openpyxl.load_workbook(target)["burnout_by_wave"])
    assert "CI lower (%)" in header and "Confidence level (%)" in header
    levels = [r[header.index("Confidence level (%)")].value for r in rows]
    assert levels[:2] == [95, 90]


def test_a_model_that_could_not_be_estimated(run, tmp_path):
    results, config = run
    models = tmp_path / "models"
    shutil.copytree(results / "models", models)
    pd.DataFrame({"indicator": ["lonely"], "term": ["(model)"], "n": [0],
                  "status": ["not_estimable"], "reason": ["not estimable: ..."]}).to_csv(
        models / "lonely_logit.csv", index=False)
    inputs = _inputs(results, config)
    inputs = AnnexInputs(**{**inputs.__dict__,
                            "models": [models / p.name for p in inputs.models]})
    target = tmp_path / "tables.xlsx"
    write_workbook(target, inputs, config, "en")
    header, rows = _table(openpyxl.load_workbook(target)["lonely_logit"])
    (row,) = rows
    values = dict(zip(header, [c.value for c in row], strict=True))
    assert values["Characteristic"] == "Model"
    assert values["Odds ratio (ratio)"] == MARK_NOT_APPLICABLE
    assert values["Status"] == "[z] not estimable"


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
    page = results / "report" / language / "index.html"
    report(results_dir=str(results), template_dir=str(REPO / "workflow" / "templates"),
           figures_manifest=str(manifest), language=language, config=config,
           output=str(page), workbook=str(results / "tables" / WORKBOOKS[language]))
    html = page.read_text(encoding="utf-8")
    links = re.findall(r'<a href="([^"]+\.xlsx)"', html)
    assert links == [f"../../tables/{WORKBOOKS[language]}"]
    assert (page.parent / unquote(links[0])).resolve() == (
        results / "tables" / WORKBOOKS[language]).resolve()


def test_pandas_reads_the_workbook(run):
    results, _ = run
    frame = pd.read_excel(results / "tables" / "tables.xlsx", sheet_name="burnout_by_wave",
                          skiprows=4)
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
    with pytest.raises(ConfigError, match=r'report.release_date: write the date in quotes'):
        validate_config(unquoted)
    config["report"]["release_date"] = "2026-02-30"
    validate_config(config)  # the pattern passes ...
    with pytest.raises(ConfigError, match="not a date"):
        release_date(config)  # ... the calendar does not (run.preflight calls this)
