"""neacovid.publish.figures: files, captions, disclosure status, determinism, no warnings.

Small hand-made tables only (no pipeline run), so the module stays fast.
"""

from __future__ import annotations

import json
import logging
import warnings
import xml.etree.ElementTree as ET
from pathlib import Path

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib import font_manager
from matplotlib.collections import PathCollection
from PIL import Image
from plotnine import theme

from neacovid.errors import ConfigError, DataError
from neacovid.publish.figures import (
    DPI,
    FIGURE_NAMES,
    FONT,
    changes_figure,
    group_label,
    indicators_figure,
    key_figures_figure,
    location_figure,
    percent_labels,
    points_labels,
    save_figure,
)
from neacovid.publish.words import wave_label
from neacovid.workflow import figures as figures_step

WAVES = ["2019", "2020-06", "2021-11"]
LOCATIONS = ["on_site", "hybrid", "home"]
AGES = ["15-24", "25-34", "35-44"]


def _share_rows(keys: dict, p: float, n: int) -> list[dict]:
    se = float(np.sqrt(p * (1 - p) / n))
    return [
        {
            **keys,
            "category": c,
            "estimate": q,
            "se": se,
            "ci_low": q - 2 * se,
            "ci_high": q + 2 * se,
            "n": n,
            "weighted_n": 1000.0 * n,
            "deff": 1.1,
            "df": n - 10.0,
            "level": 0.95,
            "ci_method": "logit",
        }
        for c, q in (("0.0", 1 - p), ("1.0", p))
    ]


def location_table() -> pd.DataFrame:
    shares = {
        "2019": (0.78, 0.19, 0.03),
        "2020-06": (0.60, 0.16, 0.24),
        "2021-11": (0.57, 0.18, 0.25),
    }
    rows = []
    for wave, values in shares.items():
        n = 57097 if wave == "2019" else 7905
        for location, p in zip(LOCATIONS, values, strict=True):
            se = float(np.sqrt(p * (1 - p) / n))
            rows.append(
                {
                    "indicator": "location",
                    "wave": wave,
                    "category": location,
                    "estimate": p,
                    "se": se,
                    "ci_low": p - 2 * se,
                    "ci_high": p + 2 * se,
                    "n": n,
                    "weighted_n": 7.7e6,
                    "deff": 1.0,
                    "df": n - 19.0,
                    "level": 0.95,
                    "ci_method": "logit",
                }
            )
    return pd.DataFrame(rows)


def breakdown_table(breakdown: str, groups: list[str]) -> pd.DataFrame:
    rows = []
    for k, indicator in enumerate(["burnout", "lonely"]):
        for w, wave in enumerate(WAVES):
            for g, group in enumerate(groups):
                n = 2000 + 500 * g - 300 * w
                p = 0.12 + 0.02 * g + 0.01 * w + 0.03 * k
                rows += _share_rows({"indicator": indicator, "wave": wave, breakdown: group}, p, n)
    return pd.DataFrame(rows)


def key_table() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "id": ["loc_onsite_2021_11", "burnout_home_any_2021_11", "burnout_all_2019"],
            "wave": ["2021-11", "2021-11", "2019"],
            "population": ["employees", "home_any workers", "employees"],
            "indicator": ["location", "burnout", "burnout"],
            "category": ["on_site", "1", "1"],
            "published": [57.0, 16.9, 17.0],
            "estimate": [56.9, 16.2, 17.1],
            "ci_low": [55.8, 15.0, 16.7],
            "ci_high": [58.1, 16.8, 17.4],
            "n": [7905, 4141, 57930],
            "within_ci": [True, False, True],
            "level": 0.95,
            "ci_method": "logit",
        }
    )


def changes_table(breakdown: str | None = "location") -> pd.DataFrame:
    rows = []
    groups = LOCATIONS if breakdown else [None]
    for indicator in ["burnout", "lonely"]:
        for w, wave in enumerate(["2020-06", "2021-11"]):
            for g, group in enumerate(groups):
                diff = 0.01 * (g + 1) * (1 if w else -1)
                se = 0.004
                row = {
                    "indicator": indicator,
                    "wave": wave,
                    "estimate": 0.17 + diff,
                    "base_estimate": 0.17,
                    "diff": diff,
                    "se": se,
                    "ci_low": diff - 1.96 * se,
                    "ci_high": diff + 1.96 * se,
                    "p_value": 0.5 if g == 0 else 0.001,
                    "p_holm": 0.9 if g == 0 else 0.004,
                    "df": 900.0,
                    "n": 900,
                    "base_n": 5000,
                    "level": 0.95,
                    "ci_method": "t",
                }
                if breakdown:
                    row[breakdown] = group
                rows.append(row)
    return pd.DataFrame(rows)


def drawn_points(figure) -> list[tuple[float, float, bool]]:
    """(x, y, hollow) of every marker matplotlib draws in the panels (not the legend)."""
    drawn = (figure.plot + theme(figure_size=figure.size)).draw()
    try:
        points = []
        for ax in drawn.axes:
            for collection in ax.collections:
                if not isinstance(collection, PathCollection):
                    continue
                faces = collection.get_facecolors()
                for i, (x, y) in enumerate(collection.get_offsets()):
                    face = faces[i % len(faces)] if len(faces) else (0, 0, 0, 0)
                    points.append((float(x), float(y), tuple(face) == (1.0, 1.0, 1.0, 1.0)))
        return points
    finally:
        plt.close(drawn)


@pytest.fixture(scope="module")
def step_output(tmp_path_factory):
    """The figures step on csv tables, both languages; warnings and warning logs recorded."""
    tmp = tmp_path_factory.mktemp("figures")
    tables = tmp / "tables"
    tables.mkdir()
    location_table().to_csv(tables / "location_by_wave.csv", index=False)
    by_location = breakdown_table("location", LOCATIONS)
    by_age = breakdown_table("age_group", AGES)
    for indicator in ["burnout", "lonely"]:
        by_location[by_location["indicator"] == indicator].to_csv(
            tables / f"{indicator}_by_location.csv", index=False
        )
        by_age[by_age["indicator"] == indicator].to_csv(
            tables / f"{indicator}_by_age_group.csv", index=False
        )
    key_table().to_csv(tables / "kerncijfers.csv", index=False)
    # The pipeline's long change table: overall rows and rows by location.
    overall = changes_table(None).assign(breakdown="all", group="all")
    local = changes_table("location")
    local = local.assign(breakdown="location", group=local.pop("location"))
    pd.concat([overall, local]).assign(base="2019").to_csv(
        tables / "changes_vs_2019.csv", index=False
    )

    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Collect(level=logging.WARNING)
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for lang in ("nl", "en"):
                figures_step(
                    location_table=str(tables / "location_by_wave.csv"),
                    location_tables=[
                        str(tables / f"{i}_by_location.csv") for i in ["burnout", "lonely"]
                    ],
                    age_group_tables=[
                        str(tables / f"{i}_by_age_group.csv") for i in ["burnout", "lonely"]
                    ],
                    key_figures=str(tables / "kerncijfers.csv"),
                    changes=str(tables / "changes_vs_2019.csv"),
                    language=lang,
                    data_source="synthetic",
                    out_dir=str(tmp / lang),
                    manifest=str(tmp / lang / "figures.json"),
                )
    finally:
        root.removeHandler(handler)
    return tmp, list(caught), records


# -- files and manifest ---------------------------------------------------------------


@pytest.mark.parametrize("lang", ["nl", "en"])
def test_every_figure_is_valid_svg_and_300_dpi_png(step_output, lang):
    out, _, _ = step_output
    manifest = json.loads((out / lang / "figures.json").read_text(encoding="utf-8"))
    assert manifest["language"] == lang
    assert [f["name"] for f in manifest["figures"]] == list(FIGURE_NAMES)
    for entry in manifest["figures"]:
        svg, png = out / lang / entry["svg"], out / lang / entry["png"]
        root = ET.parse(svg).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert root.get("width") == f"{entry['width_in'] * 72:g}pt"
        assert "<dc:date>" not in svg.read_text()
        with Image.open(png) as image:
            image.verify()
        with Image.open(png) as image:
            assert image.format == "PNG"
            assert image.info["dpi"] == pytest.approx((DPI, DPI), rel=1e-3)
            assert image.size == (round(entry["width_in"] * DPI), round(entry["height_in"] * DPI))
        assert entry["width_in"] == 7.0  # A4 text width and phones: one width for all
        assert entry["dpi"] == DPI
        assert entry["title"] and entry["alt"]


def test_captions_state_population_waves_n_and_source(step_output):
    out, _, _ = step_output
    figures = {
        lang: {
            f["name"]: f
            for f in json.loads((out / lang / "figures.json").read_text(encoding="utf-8"))[
                "figures"
            ]
        }
        for lang in ("nl", "en")
    }
    for lang, waves, source, population in (
        ("nl", ["2019", "jun 2020", "nov 2021"], "Synthetische", "Populatie"),
        ("en", ["2019", "Jun 2020", "Nov 2021"], "Synthetic", "Population"),
    ):
        for entry in figures[lang].values():
            caption = entry["caption"]
            assert "n = " in caption, caption
            assert source in caption
            assert population in caption
            assert any(w in caption for w in waves)
        for name in ("location_by_wave", "indicators_by_location", "indicators_by_age_group"):
            assert all(w in figures[lang][name]["caption"] for w in waves)
    # Dutch numbers: thousands point, decimal comma; English the other way round
    assert "2019 (n = 57.097)" in figures["nl"]["location_by_wave"]["caption"]
    assert "2019 (n = 57,097)" in figures["en"]["location_by_wave"]["caption"]
    assert "15-24 jaar" in figures["nl"]["indicators_by_age_group"]["caption"]
    assert (
        "nov 2021 (95%-interval tussen haakjes): op locatie 57% (56\u201358%)"
        in (figures["nl"]["location_by_wave"]["alt"])
    )
    assert "1 van de 3" not in figures["nl"]["key_figures"]["caption"]
    assert "2 van de 3 gepubliceerde cijfers" in figures["nl"]["key_figures"]["caption"]


def test_no_warnings_and_only_the_bundled_font(step_output):
    _, caught, records = step_output
    assert [str(w.message) for w in caught] == []
    assert [r.getMessage() for r in records] == []
    # DejaVu Sans ships with matplotlib: it resolves without system fonts
    path = font_manager.findfont(
        font_manager.FontProperties(family=FONT), fallback_to_default=False
    )
    assert Path(path).name.startswith("DejaVuSans")
    assert (Path(mpl.get_data_path()) / "fonts" / "ttf" / Path(path).name).is_file()


def test_same_tables_give_the_same_bytes(tmp_path):
    for run in ("a", "b"):  # two saves in one process: matplotlib would salt ids randomly
        save_figure(location_figure(location_table(), "nl"), tmp_path / run)
    for suffix in ("svg", "png"):
        a = (tmp_path / "a" / f"location_by_wave.{suffix}").read_bytes()
        b = (tmp_path / "b" / f"location_by_wave.{suffix}").read_bytes()
        assert a == b, suffix


def test_step_output_is_byte_identical_on_rerun(step_output, tmp_path):
    out, _, _ = step_output
    table = breakdown_table("age_group", AGES)
    figure = indicators_figure(table, "age_group", "nl", highlight="15-24")
    save_figure(figure, tmp_path)
    for suffix in ("svg", "png"):
        name = f"indicators_by_age_group.{suffix}"
        assert (tmp_path / name).read_bytes() == (out / "nl" / name).read_bytes()


# -- disclosure status ------------------------------------------------------------------


def _with_status(
    table: pd.DataFrame, breakdown: str, group: str, wave: str, status: str
) -> pd.DataFrame:
    table = table.copy()
    if "status" not in table:
        table["status"] = "ok"
    cell = (table[breakdown] == group) & (table["wave"] == wave) & (table["indicator"] == "lonely")
    table.loc[cell, "status"] = status
    if status == "suppressed":  # neacovid.publish.disclosure blanks the numbers
        table.loc[cell, ["estimate", "se", "ci_low", "ci_high", "n"]] = np.nan
    return table


def _cells(frame: pd.DataFrame, breakdown: str) -> set:
    return set(zip(frame["indicator"], frame["wave"], frame[breakdown], strict=True))


def test_suppressed_cell_is_not_drawn_and_named_in_the_caption():
    table = breakdown_table("location", LOCATIONS)
    plain = indicators_figure(table, "location", "en")
    suppressed = indicators_figure(
        _with_status(table, "location", "home", "2021-11", "suppressed"), "location", "en"
    )
    cell = ("lonely", "2021-11", "home")
    assert cell in _cells(plain.data, "location")
    assert _cells(suppressed.data, "location") == _cells(plain.data, "location") - {cell}
    assert len(suppressed.omitted) == 1
    assert "Not shown, too few respondents: loneliness, at home, Nov 2021" in suppressed.caption
    assert "Not shown" not in plain.caption
    # what matplotlib draws, not only what is handed over: one marker less
    assert len(drawn_points(plain)) == len(plain.data) == 2 * 2 * len(LOCATIONS)
    assert len(drawn_points(suppressed)) == len(plain.data) - 1


def test_indicative_cell_gets_a_hollow_marker():
    table = breakdown_table("location", LOCATIONS)
    plain = indicators_figure(table, "location", "en")
    flagged = indicators_figure(
        _with_status(table, "location", "home", "2020-06", "indicative"), "location", "en"
    )
    hollow = flagged.data[flagged.data["hollow"]]
    assert _cells(hollow, "location") == {("lonely", "2020-06", "home")}
    assert not plain.data["hollow"].any()
    assert "Hollow markers: indicative" in flagged.caption
    assert "Hollow" not in plain.caption
    points = drawn_points(flagged)
    assert len(points) == len(plain.data)
    assert [(x, y) for x, y, h in points if h] == [
        (hollow["x"].iloc[0], hollow["estimate"].iloc[0])
    ]
    assert not any(h for _, _, h in drawn_points(plain))


def test_indicative_age_group_and_dutch_note():
    table = _with_status(
        breakdown_table("age_group", AGES), "age_group", "25-34", "2020-06", "indicative"
    )
    figure = indicators_figure(table, "age_group", "nl", highlight="15-24")
    assert _cells(figure.data[figure.data["hollow"]], "age_group") == {
        ("lonely", "2020-06", "25-34")
    }
    assert "Open symbolen: indicatief" in figure.caption


def test_empty_and_missing_status_and_unknown_status():
    table = breakdown_table("location", LOCATIONS)
    empty = _with_status(table, "location", "hybrid", "2020-06", "empty")
    empty.loc[empty["status"] == "empty", ["estimate", "n"]] = [np.nan, 0]
    figure = indicators_figure(empty, "location", "en")
    assert len(figure.omitted) == 0 and "Not shown" not in figure.caption
    assert len(figure.data) == len(indicators_figure(table, "location", "en").data) - 1
    bad = table.assign(status="secret")
    with pytest.raises(DataError, match="status 'secret'"):
        indicators_figure(bad, "location", "en")


def test_reference_wave_is_a_line_not_a_point():
    figure = indicators_figure(breakdown_table("location", LOCATIONS), "location", "en")
    assert "2019" not in set(figure.data["wave"])
    assert set(figure.reference["wave"]) == {"2019"}
    assert len(figure.reference) == 2 * len(LOCATIONS)  # 2 indicators x 3 locations
    ages = indicators_figure(
        breakdown_table("age_group", AGES), "age_group", "en", highlight="15-24"
    )
    assert set(ages.reference["age_group"]) == {"15-24"}  # only the highlighted group's
    plain = indicators_figure(breakdown_table("age_group", AGES), "age_group", "en", highlight=None)
    assert plain.reference.empty and "highlighted" not in plain.caption
    assert "Dotted line" not in plain.caption and "aged 15 to 44" in plain.caption


# -- change-vs-2019 forest plot (hand-made change table) --------------------------------


@pytest.mark.parametrize("breakdown", ["location", "age_group", None])
def test_changes_figure_marks_significant_differences(tmp_path, breakdown):
    table = changes_table("location" if breakdown else None)
    if breakdown == "age_group":
        table = table.rename(columns={"location": "age_group"})
        table["age_group"] = table["age_group"].map(dict(zip(LOCATIONS, AGES, strict=True)))
    figure = changes_figure(table, "en")
    significant = figure.data["significance"].astype(str).str.startswith("Significant")
    assert significant.sum() == (table["p_holm"] < 0.05).sum()
    assert "(Holm, p < 0.05)" in figure.caption and "95% confidence" in figure.caption
    assert "Waves: Jun 2020, Nov 2021" in figure.caption
    assert figure.name == ("changes_by_" + breakdown if breakdown else "changes")
    assert f"{significant.sum()} of the {len(table)} differences are significant" in figure.alt
    if breakdown == "location":  # one save is enough to show it renders
        entry = save_figure(figure, tmp_path)
        ET.parse(tmp_path / entry["svg"])


def test_changes_figure_status_base_and_language():
    table = changes_table().assign(status="ok", base="2019", n=800, base_n=900)
    table.loc[0, "status"] = "suppressed"
    table.loc[0, ["diff", "ci_low", "ci_high", "p_value", "p_holm"]] = np.nan
    table.loc[1, "status"] = "indicative"
    figure = changes_figure(table, "nl")
    assert len(figure.data) == len(table) - 1 and len(figure.omitted) == 1
    assert (
        "Niet getoond wegens te weinig respondenten: burn-outklachten, op locatie, jun 2020"
        in figure.caption
    )
    assert "Gestippelde intervallen: indicatief" in figure.caption
    assert "n = 800 respondenten per verschil" in figure.caption
    assert "Verschil met 2019" in figure.caption
    with pytest.raises(DataError, match="several base waves"):
        changes_figure(table.assign(base=["2019", "2020-06"] * (len(table) // 2)), "nl")


def test_changes_figure_reads_the_pipelines_long_format():
    wide = changes_table("location").assign(base="2019", n=800, base_n=900, status="ok")
    total = changes_table(None).assign(base="2019", n=2400, base_n=2700, status="ok")
    long = pd.concat(
        [
            wide.rename(columns={"location": "group"}).assign(breakdown="location"),
            total.assign(breakdown="all", group="all"),
            total.assign(indicator="sitting_hours", breakdown="all", group="all"),
        ],
        ignore_index=True,
    )
    by_location = changes_figure(long, "en", breakdown="location")
    assert by_location.name == "changes_by_location"
    assert _cells(by_location.data, "location") == _cells(wide, "location")
    overall = changes_figure(long, "en", indicators=["burnout", "lonely"])
    assert overall.name == "changes" and len(overall.data) == len(total)
    with pytest.raises(DataError, match="breakdown 'sector'"):
        changes_figure(long, "en", breakdown="sector")


# -- published figures -------------------------------------------------------------------


def test_key_figures_marks_published_figures_outside_the_interval():
    figure = key_figures_figure(key_table(), "en")
    assert list(figure.data["within_ci"]) == [True, True, False]  # employees first
    assert "2 of the 3 published figures lie within the interval" in figure.caption
    assert "n = 4,141 to 57,930" in figure.caption
    assert "outside: Burn-out complaints, Nov 2021 ((partly) home workers): 16.9% vs 16.2%" in (
        figure.alt
    )
    # dots at 0 (estimates) and diamonds (published), one filled: outside the interval
    points = drawn_points(figure)
    assert len(points) == 2 * 3
    assert sum(1 for x, _, h in points if x == 0 and not h) == 3


# -- labels and errors -------------------------------------------------------------------


def test_labels_per_language():
    assert wave_label("2021-11", "nl") == "nov 2021"
    assert wave_label("2021-03", "nl") == "mrt 2021"
    assert wave_label("2021-03", "en") == "Mar 2021"
    assert wave_label("2019", "en") == "2019"
    assert group_label("age_group", "15-24", "nl") == "15-24 jaar"
    assert group_label("location", "home", "nl") == "Thuis"
    assert group_label("location", "home", "nl", running=True) == "thuis"
    assert percent_labels("nl")([0.0, 0.125, 0.25]) == ["0,0%", "12,5%", "25,0%"]
    assert percent_labels("en")([0.0, 0.2, 0.4]) == ["0%", "20%", "40%"]
    assert points_labels("nl")([-0.025, 0.0, 0.025]) == ["\u22122,5", "0,0", "+2,5"]


def test_bad_input_is_a_user_error():
    with pytest.raises(ConfigError, match="language 'de'"):
        location_figure(location_table(), "de")
    with pytest.raises(DataError, match="column 'ci_low' is missing"):
        location_figure(location_table().drop(columns="ci_low"), "en")
    with pytest.raises(DataError, match="age group '16-24'"):
        indicators_figure(breakdown_table("age_group", AGES), "age_group", "en", highlight="16-24")


def test_captions_say_the_level_method_and_adjustment_of_the_table():
    """A 99% table with Benjamini-Hochberg verdicts is labelled so, never 95% or Holm."""
    table = changes_table("location").assign(
        level=0.99, adjustment="bh", significant=lambda t: t["p_holm"] < 0.05
    )
    figure = changes_figure(table, "en")
    assert "99% confidence" in figure.caption and "95%" not in figure.caption
    assert "Benjamini-Hochberg" in figure.caption and "Holm" not in figure.caption
    shares = location_table().assign(level=0.9, ci_method="beta")
    figure = location_figure(shares, "nl")
    assert "90%-betrouwbaarheidsinterval" in figure.caption + figure.alt
    assert "95%" not in figure.caption + figure.alt + figure.title
    mixed = location_table()
    mixed.loc[0, "level"] = 0.99
    with pytest.raises(DataError, match="2 values of 'level'"):
        location_figure(mixed, "en")
