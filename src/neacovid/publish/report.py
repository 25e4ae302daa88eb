"""The policy report: one self-contained HTML page per language.

`build_context` reads this run's tables, models, figures, output check and
provenance and turns them into sentences and table rows; every number comes
from those files, the words from ``workflow/templates/report_text.yaml`` and
the layout from ``report.html.j2``. Figures are embedded as data URIs, so the
page makes no request to any other host and opens from a USB stick.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import jinja2
import pandas as pd
import yaml

from neacovid.publish.words import format_number, format_percent, wave_label, words

ALPHA = 0.05
SHOWN = ("ok", "indicative")
COMPLAINTS = ("burnout", "kans", "physical", "lonely")


@dataclass(frozen=True)
class ReportInputs:
    results: Path  # the run's results directory
    template_dir: Path
    config: Mapping
    figures_manifest: Path  # results/figures/<lang>/figures.json
    workbook: str | None = None  # the tables annex, relative to the page (a link)


class _Words:
    """The report's words in one language, with this run's numbers filled in."""

    def __init__(self, template_dir: Path, language: str):
        self.t = words("report_text", language, template_dir)
        self.language = language

    def pct(self, share, status: str = "ok", digits: int = 1) -> str:
        if status not in SHOWN:
            return "–"
        mark = "*" if status == "indicative" else ""
        return format_percent(share, self.language, digits) + mark

    def num(self, value, digits: int = 0) -> str:
        return format_number(value, self.language, digits)

    def points(self, diff) -> str:
        """A difference in percentage points with its sign: "+1,2", "−0,4", "0,0"."""
        text = format_number(abs(100 * diff), self.language, 1)
        if text.strip("0,.") == "":
            return text
        return f"+{text}" if diff > 0 else f"−{text}"

    def ci(self, low, high, scale: float = 100.0, digits: int = 1) -> str:
        if pd.isna(low) or pd.isna(high):
            return "–"
        return (f"{format_number(scale * low, self.language, digits)}–"
                f"{format_number(scale * high, self.language, digits)}")

    def indicator(self, name: str) -> str:
        return self.t["indicators"].get(name, name)

    def title(self, name: str) -> str:
        """The indicator's name at the start of a sentence ("KANS-klachten" stays)."""
        text = self.indicator(name)
        return text[:1].upper() + text[1:]

    def category(self, name: str) -> str:
        return self.t["categories"].get(str(name), str(name))


# -- reading the run ----------------------------------------------------------------


def _table(results: Path, name: str) -> pd.DataFrame:
    text = {c: str for c in ("wave", "base", "category", "group", "a", "b", "age_group")}
    return pd.read_csv(results / "tables" / f"{name}.csv", dtype=text)


def _cell(table: pd.DataFrame, **where) -> pd.Series | None:
    mask = pd.Series(True, index=table.index)
    for column, value in where.items():
        mask &= table[column].astype(str) == str(value)
    rows = table[mask]
    return None if rows.empty else rows.iloc[0]


def _data_uri(path: Path) -> str:
    mime = "image/svg+xml" if path.suffix == ".svg" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


# -- sections -----------------------------------------------------------------------


def build_context(inputs: ReportInputs, language: str) -> dict:
    w = _Words(inputs.template_dir, language)
    t = w.t
    config = inputs.config
    results = inputs.results
    waves = [str(x) for x in config["data"]["waves"]]
    focus = str(config["report"]["focus_wave"])
    base = str(config["compare"]["base"])
    rules = config["disclosure"]
    provenance = json.loads((results / "provenance.json").read_text(encoding="utf-8"))
    check = pd.read_csv(results / "output_check.csv")

    figures = _figures(inputs.figures_manifest)
    numbered = {}

    def figure(name: str) -> dict | None:
        entry = figures.get(name)
        if entry is None:
            return None
        numbered.setdefault(name, len(numbered) + 1)
        return entry | {"label": t["figure_label"].format(number=numbered[name])}

    sections = t["sections"]
    context = {
        "t": t,
        "lang": language,
        "title": t["title"],
        "subtitle": t["subtitle"].format(first=wave_label(waves[0], language),
                                         last=wave_label(waves[-1], language)),
        "synthetic": config["data"]["source"] == "synthetic",
        "indicative_note": t["indicative_note"].format(
            flag_n=w.num(rules["flag_n"]), max_rse=format_number(rules["max_rse"], language, 1)),
        "headings": {k: v.format(base=base) for k, v in sections.items()},
        "annex": _annex(inputs.workbook),
    }
    context["key_figures"] = _key_figures(results, w) | {"figure": figure("key_figures")}
    context["location"] = _location(results, w, waves, focus) | {
        "figure": figure("location_by_wave")}
    context["complaints_figure"] = figure("indicators_by_location")
    context["complaints"] = {
        name: _by_location(results, w, name, focus)
        for name in ("burnout", "kans", "physical", "lonely")
    }
    context["young"] = _young(results, w, focus) | {"figure": figure("indicators_by_age_group")}
    context["changes"] = _changes(results, w, base) | {
        "figures": [f for f in (figure("changes"), figure("changes_by_location")) if f]}
    context["models"] = _models(results, w, config)
    context["method"] = _method(w, config, check)
    context["provenance"] = _provenance(w, provenance, config)
    return context


def _annex(workbook: str | None) -> dict | None:
    """The link to the tables annex: a relative path, URL-quoted."""
    if workbook is None:
        return None
    from urllib.parse import quote

    return {"href": quote(workbook), "name": workbook.rsplit("/", 1)[-1]}


def _figures(manifest: Path) -> dict[str, dict]:
    entries = json.loads(manifest.read_text(encoding="utf-8"))["figures"]
    return {
        e["name"]: {"src": _data_uri(manifest.parent / e["svg"]), "title": e["title"],
                    "caption": e["caption"], "alt": e["alt"]}
        for e in entries
    }


def _key_figures(results: Path, w: _Words) -> dict:
    table = _table(results, "kerncijfers")
    rows = []
    for _, r in table.iterrows():
        name = w.indicator(r["indicator"])
        if str(r["category"]) not in ("1", "1.0"):
            name = f"{name}: {w.category(r['category'])}"
        shown = r["status"] in SHOWN
        within = {"True": True, "False": False}.get(str(r["within_ci"])) if shown else None
        rows.append({
            "label": name,
            "wave": wave_label(r["wave"], w.language),
            "population": w.t["populations"].get(r["population"], r["population"]),
            "published": format_number(r["published"], w.language, 1),
            "estimate": w.pct(r["estimate"] / 100, r["status"]) if shown else "–",
            "ci": w.ci(r["ci_low"], r["ci_high"], scale=1.0) if shown else "–",
            "n": w.num(r["n"]) if shown else "–",
            "agrees": {True: w.t["word_yes"], False: w.t["word_no"]}.get(within, "–"),
            "disagrees": within is False,
        })
    agree = sum(r["agrees"] == w.t["word_yes"] for r in rows)
    missing = sum(r["agrees"] == "–" for r in rows)
    intro = w.t["key_intro"].format(agree=agree, total=len(rows))
    if missing:
        intro += " " + w.t["key_not_estimated"].format(missing=missing)
    return {"rows": rows, "intro": intro}


def _location(results: Path, w: _Words, waves: list[str], focus: str) -> dict:
    location = _table(results, "location_by_wave")
    home_any = _table(results, "home_any_by_wave")
    values = {}
    for category in ("on_site", "hybrid", "home"):
        cell = _cell(location, wave=focus, category=category)
        values[category] = w.pct(cell["estimate"], cell["status"], 0) if cell is not None else "–"
    cell = _cell(home_any, wave=focus, category="1")
    values["home_any"] = w.pct(cell["estimate"], cell["status"], 0) if cell is not None else "–"
    paragraphs = [w.t["location_text"].format(wave=wave_label(focus, w.language), **values)]
    trend = []
    for wave in waves:
        cell = _cell(home_any, wave=wave, category="1")
        if wave != focus and cell is not None and cell["status"] in SHOWN:
            trend.append(w.t["location_trend"].format(
                wave=wave_label(wave, w.language), home_any=w.pct(cell["estimate"],
                                                                  cell["status"], 0)))
    return {"paragraphs": paragraphs, "trend": trend}


def _by_location(results: Path, w: _Words, indicator: str, focus: str) -> dict:
    table = _table(results, f"{indicator}_by_location")
    rows = []
    parts = []
    for location in ("on_site", "hybrid", "home"):
        cell = _cell(table, wave=focus, location=location, category="1")
        if cell is None:
            continue
        value = w.pct(cell["estimate"], cell["status"])
        rows.append({"location": w.category(location), "estimate": value,
                     "ci": w.ci(cell["ci_low"], cell["ci_high"]) if cell["status"] in SHOWN
                     else "–",
                     "n": w.num(cell["n"]) if cell["status"] in SHOWN else "–"})
        parts.append(w.t["location_value"].format(location=w.category(location), value=value))
    wave = wave_label(focus, w.language)
    return {
        "text": w.t["by_location_text"].format(indicator=w.title(indicator), wave=wave,
                                               values=", ".join(parts)),
        "caption": w.t["by_location_caption"].format(
            indicator=w.title(indicator), wave=wave),
        "rows": rows,
    }


def _young(results: Path, w: _Words, focus: str) -> dict:
    contrasts = _table(results, "contrasts")
    cell = _cell(contrasts, indicator="burnout", contrast="young_vs_older", wave=focus,
                 location="on_site")
    wave = wave_label(focus, w.language)
    if cell is None or cell["status"] not in SHOWN:
        return {"text": w.t["young_none"].format(wave=wave)}
    significant = cell["p_holm"] < ALPHA
    return {"text": w.t["young_text"].format(
        wave=wave,
        young=w.pct(cell["estimate_a"], cell["status"]),
        older=w.pct(cell["estimate_b"], cell["status"]),
        diff=w.points(cell["diff"]),
        ci=w.ci(cell["ci_low"], cell["ci_high"]),
        verdict=w.t["young_significant" if significant else "young_not_significant"],
    )}


def _changes(results: Path, w: _Words, base: str) -> dict:
    """Differences with ``base`` per complaint, for all employees and per
    location: a wave-by-group matrix, and sentences that call a difference an
    increase or decrease only when it is significant after Holm."""
    table = _table(results, f"changes_vs_{base}")
    family = int(table["p_value"].notna().sum())  # Holm adjusts over the whole table
    table = table[table["breakdown"].isin(["all", "location"])
                  & table["indicator"].isin(COMPLAINTS)]
    waves = list(dict.fromkeys(table["wave"]))
    shown = table[table["status"].isin(SHOWN)]
    significant = shown["p_holm"] < ALPHA
    groups = [("all", "all"), ("location", "on_site"), ("location", "hybrid"),
              ("location", "home")]
    rows, summaries = [], []
    for indicator in COMPLAINTS:
        moves = {"increase": [], "decrease": []}
        for breakdown, group in groups:
            label = w.t["all_employees"] if group == "all" else w.category(group)
            cells = []
            for wave in waves:
                cell = _cell(table, indicator=indicator, breakdown=breakdown, group=group,
                             wave=wave)
                if cell is None or cell["status"] not in SHOWN:
                    cells.append({"text": "–", "mark": "", "sig": False})
                    continue
                sig = bool(cell["p_holm"] < ALPHA)
                direction = "increase" if cell["diff"] > 0 else "decrease"
                if sig:
                    moves[direction].append((label, wave))
                mark = "*" if cell["status"] == "indicative" else ""
                cells.append({"text": w.points(cell["diff"]) + mark,
                              "mark": ("▲" if direction == "increase" else "▼") if sig else "",
                              "sig": sig})
            rows.append({"indicator": w.title(indicator), "group": label, "cells": cells})
        summaries.append(_change_sentence(w, indicator, moves, len(waves)))
    return {
        "intro": w.t["changes_intro"],
        "counts": w.t["changes_counts"].format(
            total=len(shown), significant=int(significant.sum()), family=w.num(family),
            base=base,
        ),
        "caption": w.t["changes_caption"].format(base=base),
        "legend": w.t["changes_legend"],
        "waves": [wave_label(x, w.language) for x in waves],
        "rows": rows,
        "summaries": summaries,
    }


def _change_sentence(w: _Words, indicator: str, moves: dict, n_waves: int) -> str:
    parts = []
    for direction in ("increase", "decrease"):
        by_group: dict[str, int] = {}
        for group, _ in moves[direction]:
            by_group[group] = by_group.get(group, 0) + 1
        if by_group:
            groups = ", ".join(
                w.t["change_group"].format(group=g, count=c, total=n_waves)
                for g, c in by_group.items()
            )
            parts.append(w.t["change_direction"].format(word=w.t[direction], groups=groups))
    if not parts:
        return w.t["change_none_for"].format(indicator=w.title(indicator))
    return w.t["change_summary"].format(indicator=w.title(indicator), parts="; ".join(parts))


def _models(results: Path, w: _Words, config: Mapping) -> dict:
    """Odds ratios of location, age group and sex for each complaint (not the
    sector and wave terms, which the model adjusts for)."""
    indicators = list(config["models"]["indicators"])
    tables = {i: pd.read_csv(results / "models" / f"{i}_logit.csv") for i in indicators}
    terms = list(dict.fromkeys(
        t for i in indicators for t in tables[i]["term"]
        if t not in ("Intercept", "(model)") and not t.startswith(("C(sector", "C(wave"))
    ))
    rows = []
    for term in terms:
        cells = []
        for indicator in indicators:
            by_term = tables[indicator].set_index("term")
            row = by_term.loc[term] if term in by_term.index else None
            if row is None or row["status"] not in SHOWN:
                cells.append("–")
                continue
            mark = "*" if row["status"] == "indicative" else ""
            bold = row["p_holm"] < ALPHA
            cells.append({"or": format_number(row["odds_ratio"], w.language, 2) + mark,
                          "ci": w.ci(row["ci_low"], row["ci_high"], scale=1.0, digits=2),
                          "bold": bold})
        rows.append({"term": _term_label(term, w), "cells": cells})
    references = []
    for variable, level in config["models"]["references"].items():
        if variable in ("location", "age_group"):
            value = w.category(level) if variable == "location" else f"{level}{w.t['age_unit']}"
            references.append(f"{w.t['terms'].get(variable, variable)}: {value}")
    references = ", ".join(references)
    return {
        "intro": w.t["models_intro"].format(references=references),
        "caption": w.t["models_caption"],
        "indicators": [w.title(i) for i in indicators],
        "rows": rows,
    }


def _term_label(term: str, w: _Words) -> str:
    from neacovid.publish.tables import FACTOR_TERM

    match = FACTOR_TERM.match(term)
    if match is None:
        return term
    variable, level = match["var"], match["level"]
    name = w.t["terms"].get(variable, variable)
    if variable == "location":
        value = w.category(level)
    elif variable == "age_group":
        value = f"{level}{w.t['age_unit']}"
    else:
        value = w.t["terms"].get(level, level)
    return f"{name}: {value}"


def _method(w: _Words, config: Mapping, check: pd.DataFrame) -> dict:
    spec = config["indicators"]
    rules = config["disclosure"]
    t = w.t
    return {
        "definitions": [
            t["def_burnout"].format(cutoff=format_number(spec["burnout"]["cutoff"], w.language, 2),
                                    min_items=spec["burnout"]["min_items"]),
            t["def_kans"],
            t["def_lonely"].format(items=len(spec["lonely"]["items"]),
                                   cutoff=format_number(spec["lonely"]["cutoff"], w.language, 0)),
            t["def_physical"],
            t["def_location"],
        ],
        "design": t["design_text"].format(
            ci=config["tables"]["ci"],
            baseline=config["data"]["baseline"],
            margins=_margins(w, config["design"].get("calibration") or []),
        ),
        "disclosure": t["disclosure_text"].format(
            min_n=rules["min_n"], flag_n=rules["flag_n"],
            max_rse=format_number(rules["max_rse"], w.language, 1),
            round=w.num(rules["round_weighted_n"]),
            suppressed=w.num((check["status"] == "suppressed").sum()),
            indicative=w.num((check["status"] == "indicative").sum()),
        ),
        "limits": [t["limits_synthetic"] if config["data"]["source"] == "synthetic"
                   else t["limits_real"], t["limits_common"]],
    }


def _margins(w: _Words, terms) -> str:
    """Calibration terms in words: ``wave:sector`` -> "sector per meting"."""
    if not terms:
        return w.t["design_no_margins"]
    names = w.t["columns"]
    parts = []
    for term in terms:
        columns = [c.strip() for c in term.split(":")]
        within = [names.get(c, c) for c in columns if c != "wave"]
        text = " × ".join(within) if within else names["wave"]
        parts.append(w.t["design_margin"].format(columns=text) if "wave" in columns and within
                     else text)
    return ", ".join(parts)


def _provenance(w: _Words, record: Mapping, config: Mapping) -> dict:
    t = w.t
    git = record["git"]
    clean = (t["prov_unknown"] if git["clean"] is None
             else t["prov_clean"] if git["clean"] else t["prov_dirty"])
    totals = record["totals"]
    return {
        "intro": t["prov_intro"],
        "rows": [{"wave": wave_label(i["wave"], w.language), "file": i["file"],
                  "sha": i["sha256"], "read": w.num(i["rows_read"]),
                  "kept": w.num(i["rows_kept"]),
                  "excluded": w.num(sum(i["rows_excluded"].values()))}
                 for i in record["inputs"]],
        "totals": t["prov_totals"].format(read=w.num(totals["rows_read"]),
                                          kept=w.num(totals["rows_kept"]),
                                          excluded=w.num(totals["rows_excluded"])),
        "code": t["prov_code"].format(version=record["packages"].get("neacovid"),
                                      commit=git["commit"] or t["prov_unknown"], clean=clean),
        "packages": sorted((k, v) for k, v in record["packages"].items() if v),
        "config": yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True),
    }


def render_report(inputs: ReportInputs, language: str) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(inputs.template_dir)),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2").render(**build_context(inputs, language))
