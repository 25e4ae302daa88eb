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

from neacovid.data.config import years_between
from neacovid.publish.disclosure import DisclosureRules
from neacovid.publish.tables import FACTOR_TERM, verdict
from neacovid.publish.words import (
    MINUS,
    filled,
    format_number,
    format_percent,
    level_text,
    wave_label,
    words,
)

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

    def __init__(self, template_dir: Path, language: str, level: float):
        # every "{level}" of the words is this run's confidence level
        self.t = filled(
            words("report_text", language, template_dir), {"{level}": level_text(level, language)}
        )
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
        low_text, high_text = (
            format_number(scale * x, self.language, digits).replace("-", MINUS) for x in (low, high)
        )
        if low < 0 or high < 0:  # "−1,1–8,0" reads as a range of two negatives
            return self.t["ci_range"].format(low=low_text, high=high_text)
        return f"{low_text}–{high_text}"

    def indicator(self, name: str) -> str:
        return self.t["indicators"].get(name, name)

    def title(self, name: str) -> str:
        """The indicator's name at the start of a sentence ("KANS-klachten" stays)."""
        text = self.indicator(name)
        return text[:1].upper() + text[1:]

    def category(self, name: str) -> str:
        return self.t["categories"].get(str(name), str(name))

    def group(self, breakdown: str, group: str, baseline: str) -> str:
        """A breakdown group that says whom it holds: "on location (at the time)",
        "15-24 years (in 2019)"."""
        fixed = breakdown.endswith(f"_{baseline}")
        variable = breakdown.removesuffix(f"_{baseline}") if fixed else breakdown
        name = f"{group}{self.t['age_unit']}" if variable == "age_group" else self.category(group)
        if group == "all":
            return self.t["all_employees"]
        return self.t["in_baseline" if fixed else "at_the_time"].format(
            group=name, baseline=baseline
        )

    def level(self, config: Mapping) -> str:
        """The confidence level as readers write it: "95%"."""
        return level_text(config["tables"]["level"], self.language)

    def alpha(self, config: Mapping) -> str:
        return format_number(config["compare"]["alpha"], self.language, 2)

    def verdict(self, significant: bool, adjustment: str) -> str:
        method = self.t["adjustments"].get(str(adjustment), str(adjustment))
        return self.t["sig_yes" if significant else "sig_no"].format(method=method)


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
    w = _Words(inputs.template_dir, language, inputs.config["tables"]["level"])
    t = w.t
    config = inputs.config
    results = inputs.results
    waves = [str(x) for x in config["data"]["waves"]]
    focus = str(config["report"]["focus_wave"])
    base = str(config["compare"]["base"])
    rules = DisclosureRules.from_config(config["disclosure"])
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
        "subtitle": t["subtitle"].format(
            first=wave_label(waves[0], language), last=wave_label(waves[-1], language)
        ),
        "synthetic": config["data"]["source"] == "synthetic",
        "indicative_note": t["indicative_note"].format(flag_n=w.num(rules.flag_n)),
        "headings": {
            k: v.format(base=base, baseline=config["data"]["baseline"]) for k, v in sections.items()
        },
        "annex": _annex(inputs.workbook),
    }
    context["key_figures"] = _key_figures(results, w) | {"figure": figure("key_figures")}
    context["location"] = _location(results, w, waves, focus) | {
        "figure": figure("location_by_wave")
    }
    context["complaints_figure"] = figure("indicators_by_location")
    context["complaints"] = {
        name: _by_location(results, w, name, focus)
        for name in ("burnout", "kans", "physical", "lonely")
    }
    context["panel"] = _panel(results, w, config, focus)
    context["young"] = _young(results, w, config, focus) | {
        "figure": figure("indicators_by_age_group")
    }
    context["changes"] = _changes(results, w, config) | {
        "figures": [f for f in (figure("changes"), figure("changes_by_location")) if f]
    }
    context["models"] = _models(results, w, config, focus)
    context["method"] = _method(w, config, check) | {"quality": _quality(w, provenance)}
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
        e["name"]: {
            "src": _data_uri(manifest.parent / e["svg"]),
            "title": e["title"],
            "caption": e["caption"],
            "alt": e["alt"],
        }
        for e in entries
    }


def _key_figures(results: Path, w: _Words) -> dict:
    table = _table(results, "kerncijfers")
    adjusted = _table(results, "sensitivity_key_figures")
    adjusted = adjusted[adjusted["version"] == "attrition-adjusted weights"].set_index("id")
    rows = []
    for _, r in table.iterrows():
        other = adjusted.loc[r["id"]] if r["id"] in adjusted.index else None
        name = w.indicator(r["indicator"])
        if str(r["category"]) not in ("1", "1.0"):
            name = f"{name}: {w.category(r['category'])}"
        shown = r["status"] in SHOWN
        within = {"True": True, "False": False}.get(str(r["within_ci"])) if shown else None
        rows.append(
            {
                "label": name,
                "wave": wave_label(r["wave"], w.language),
                "population": w.t["populations"].get(r["population"], r["population"]),
                "published": format_number(r["published"], w.language, 1),
                "estimate": w.pct(r["estimate"] / 100, r["status"]) if shown else "–",
                "adjusted": (
                    w.pct(other["estimate"] / 100, other["status"])
                    if other is not None and other["status"] in SHOWN
                    else "–"
                ),
                "ci": w.ci(r["ci_low"], r["ci_high"], scale=1.0) if shown else "–",
                "n": w.num(r["n"]) if shown else "–",
                "agrees": {True: w.t["word_yes"], False: w.t["word_no"]}.get(within, "–"),
                "disagrees": within is False,
            }
        )
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
            trend.append(
                w.t["location_trend"].format(
                    wave=wave_label(wave, w.language),
                    home_any=w.pct(cell["estimate"], cell["status"], 0),
                )
            )
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
        rows.append(
            {
                "location": w.category(location),
                "estimate": value,
                "ci": w.ci(cell["ci_low"], cell["ci_high"]) if cell["status"] in SHOWN else "–",
                "n": w.num(cell["n"]) if cell["status"] in SHOWN else "–",
            }
        )
        parts.append(w.t["location_value"].format(location=w.category(location), value=value))
    wave = wave_label(focus, w.language)
    return {
        "text": w.t["by_location_text"].format(
            indicator=w.title(indicator), wave=wave, values=", ".join(parts)
        ),
        "caption": w.t["by_location_caption"].format(indicator=w.title(indicator), wave=wave),
        "rows": rows,
    }


def _young(results: Path, w: _Words, config: Mapping, focus: str) -> dict:
    """Young employees: whom the group holds in each wave (the panel ages and takes
    nobody new), young against older in the focus wave at the time, and the change
    of the same people, young in the baseline, against the older ones (did.csv)."""
    baseline = str(config["data"]["baseline"])
    young = str(config["indicators"]["age_groups"][0])
    low = int(young.split("-")[0])
    waves = [str(x) for x in config["data"]["waves"]]
    now = _table(results, "burnout_by_age_group")
    fixed = _table(results, f"burnout_by_age_group_{baseline}")
    changes = (
        _table(results, f"changes_vs_{baseline}")
        if str(config["compare"]["base"]) == baseline
        else None
    )
    rows = []
    for wave in waves:
        years = years_between(config, baseline, wave)
        cells = [
            _count(w, _cell(now, wave=wave, age_group=young, category="1")),
            {"text": w.num(low + years)},
            _count(w, _cell(fixed, wave=wave, **{f"age_group_{baseline}": young}, category="1")),
        ]
        change = (
            None
            if changes is None or wave == baseline
            else _cell(
                changes,
                indicator="burnout",
                breakdown=f"age_group_{baseline}",
                group=young,
                wave=wave,
            )
        )
        if wave == baseline:
            cells.append({"text": ""})
        elif change is None or change["status"] not in SHOWN:
            cells.append({"text": "–"})
        else:
            sig = bool(verdict(pd.Series([change["significant"]]))[0])
            mark = "*" if change["status"] == "indicative" else ""
            cells.append({"text": w.points(change["diff"]) + mark, "sig": sig})
        rows.append({"head": wave_label(wave, w.language), "cells": cells})
    t = w.t
    last = waves[-1]
    cohort = {
        "caption": t["young_cohort_caption"].format(group=young, baseline=baseline),
        "head": [
            t["col_wave"],
            t["col_young_now"].format(group=young),
            t["col_youngest"],
            t["col_young_fixed"].format(group=young, baseline=baseline),
            t["col_young_change"].format(baseline=baseline),
        ],
        "rows": rows,
        "note": t["young_cohort_note"].format(baseline=baseline),
    }
    intro = t["young_intro"].format(
        baseline=baseline,
        group=young,
        last=wave_label(last, w.language),
        youngest=w.num(low + years_between(config, baseline, last)),
    )
    paragraphs = [
        _young_contrast(results, w, config, focus, young),
        _young_did(results, w, config, focus, young),
    ]
    return {"intro": intro, "cohort": cohort, "paragraphs": [p for p in paragraphs if p]}


def _count(w: _Words, cell) -> dict:
    if cell is None or cell["status"] not in SHOWN:
        return {"text": "–"}
    return {"text": w.num(cell["n"])}


def _young_contrast(results: Path, w: _Words, config: Mapping, focus: str, young: str) -> str:
    contrasts = _table(results, "contrasts")
    cell = _cell(
        contrasts, indicator="burnout", contrast="young_vs_older", wave=focus, location="on_site"
    )
    wave = wave_label(focus, w.language)
    if cell is None or cell["status"] not in SHOWN:
        return w.t["young_none"].format(wave=wave, group=young)
    return w.t["young_text"].format(
        wave=wave,
        group=young,
        young=w.pct(cell["estimate_a"], cell["status"]),
        older=w.pct(cell["estimate_b"], cell["status"]),
        diff=w.points(cell["diff"]),
        level=w.level(config),
        ci=w.ci(cell["ci_low"], cell["ci_high"]),
        verdict=w.verdict(bool(verdict(pd.Series([cell["significant"]]))[0]), cell["adjustment"]),
    )


def _young_did(results: Path, w: _Words, config: Mapping, focus: str, young: str) -> str:
    """The same people: the change since the baseline of those young then against the
    change of the older ones then (the first did.csv comparison without a breakdown)."""
    baseline = str(config["data"]["baseline"])
    specs = [
        d
        for d in config["compare"].get("did") or []
        if d["group"] == f"age_group_{baseline}" and not d["by"]
    ]
    path = results / "tables" / "did.csv"
    if not specs or not path.exists():
        return ""
    did = _table(results, "did")
    cell = _cell(did, indicator="burnout", comparison=specs[0]["name"], wave=focus)
    wave = wave_label(focus, w.language)
    if cell is None or cell["status"] not in SHOWN:
        return w.t["young_did_none"].format(wave=wave, group=young, baseline=baseline)
    return w.t["young_did"].format(
        wave=wave,
        group=young,
        baseline=baseline,
        change_a=w.points(cell["estimate_a"] - cell["base_estimate_a"]),
        change_b=w.points(cell["estimate_b"] - cell["base_estimate_b"]),
        did=w.points(cell["did"]),
        level=w.level(config),
        ci=w.ci(cell["ci_low"], cell["ci_high"]),
        verdict=w.verdict(bool(verdict(pd.Series([cell["significant"]]))[0]), cell["adjustment"]),
    )


def _changes(results: Path, w: _Words, config: Mapping) -> dict:
    """Differences with the base wave per complaint, for all employees and per
    location at the time: a wave-by-group matrix, and sentences that call a
    difference an increase or decrease only when it is significant after the
    configured multiple-testing correction (its families named)."""
    base = str(config["compare"]["base"])
    baseline = str(config["data"]["baseline"])
    method = str(config["compare"]["multiple_testing"])
    table = _table(results, f"changes_vs_{base}")
    family = int(table["p_value"].notna().sum())
    adjustment = (
        str(table["adjustment"].dropna().iloc[0]) if table["adjustment"].notna().any() else "holm"
    )
    table = table[
        table["breakdown"].isin(["all", "location"]) & table["indicator"].isin(COMPLAINTS)
    ]
    waves = list(dict.fromkeys(table["wave"]))
    shown = table[table["status"].isin(SHOWN)]
    significant = verdict(shown["significant"])
    groups = [("all", "all"), ("location", "on_site"), ("location", "hybrid"), ("location", "home")]
    rows, summaries = [], []
    for indicator in COMPLAINTS:
        moves = {"increase": [], "decrease": []}
        for breakdown, group in groups:
            label = w.group(breakdown, group, baseline)
            cells = []
            for wave in waves:
                cell = _cell(
                    table, indicator=indicator, breakdown=breakdown, group=group, wave=wave
                )
                if cell is None or cell["status"] not in SHOWN:
                    cells.append({"text": "–", "mark": "", "sig": False})
                    continue
                sig = bool(verdict(pd.Series([cell["significant"]]))[0])
                direction = "increase" if cell["diff"] > 0 else "decrease"
                if sig:
                    moves[direction].append((label, wave))
                mark = "*" if cell["status"] == "indicative" else ""
                cells.append(
                    {
                        "text": w.points(cell["diff"]) + mark,
                        "mark": ("▲" if direction == "increase" else "▼") if sig else "",
                        "sig": sig,
                    }
                )
            rows.append({"indicator": w.title(indicator), "group": label, "cells": cells})
        summaries.append(_change_sentence(w, indicator, moves, len(waves)))
    method_name = w.t["adjustments"].get(adjustment, adjustment)
    return {
        "intro": w.t["changes_intro"],
        "family": w.t["families"][method].format(
            family=w.num(family), base=base, alpha=w.alpha(config)
        ),
        "counts": w.t["changes_counts"].format(
            total=len(shown), significant=int(significant.sum()), alpha=w.alpha(config)
        ),
        "caption": w.t["changes_caption"].format(base=base),
        "legend": w.t["changes_legend"].format(method=method_name, alpha=w.alpha(config)),
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


def _models(results: Path, w: _Words, config: Mapping, focus: str) -> dict:
    """Odds ratios of the models' effects: the first effect (location) in every wave's
    model side by side, the others in the focus wave's model."""
    spec = config["models"]
    indicators = list(spec["indicators"])
    effects = list(spec["effects"])
    tables = {
        i: pd.read_csv(results / "models" / f"{i}_logit.csv", dtype={"wave": str})
        for i in indicators
    }
    waves = list(dict.fromkeys(str(x) for i in indicators for x in tables[i]["wave"]))
    t = w.t
    head = [t["col_term"], *[w.title(i) for i in indicators]]
    blocks = []
    for position, effect in enumerate(effects):
        shown_waves = waves if position == 0 else [x for x in waves if x in (focus, "all")]
        rows = []
        for wave in shown_waves:
            terms = list(
                dict.fromkeys(
                    term
                    for i in indicators
                    for term in tables[i].loc[tables[i]["wave"] == wave, "term"]
                    if _factor(term) == effect
                )
            )
            for term in terms:
                label = _term_label(term, w)
                if len(shown_waves) > 1:
                    label = f"{wave_label(wave, w.language)}, {label}"
                rows.append(
                    {
                        "head": label,
                        "cells": [_odds_ratio(w, tables[i], wave, term) for i in indicators],
                    }
                )
        if rows:
            name = t["terms"].get(effect, effect)
            key = "models_caption_waves" if len(shown_waves) > 1 else "models_caption_wave"
            blocks.append(
                {
                    "caption": t[key].format(
                        term=name,
                        level=w.level(config),
                        wave=wave_label(focus, w.language),
                        effects=_names(w, effects),
                    ),
                    "head": head,
                    "rows": rows,
                }
            )
    references = []
    for variable, value in spec["references"].items():
        if variable in effects:
            label = f"{value}{t['age_unit']}" if variable == "age_group" else w.category(value)
            references.append(f"{t['terms'].get(variable, variable)}: {label}")
    intro_key = "models_intro" if spec.get("by_wave", True) else "models_intro_pooled"
    return {
        "intro": t[intro_key].format(
            effects=_names(w, effects),
            adjust=_names(w, spec["adjust"]),
            references=", ".join(references),
        ),
        "tables": blocks,
        "tests": t["models_tests"],
    }


def _names(w: _Words, columns) -> str:
    names = [w.t["terms"].get(c, c) for c in columns]
    if len(names) < 2:
        return "".join(names)
    return f"{', '.join(names[:-1])} {w.t['and']} {names[-1]}"


def _factor(term: str) -> str | None:
    match = FACTOR_TERM.match(term)
    return match["var"] if match else None


def _odds_ratio(w: _Words, table: pd.DataFrame, wave: str, term: str) -> dict:
    row = _cell(table, wave=wave, term=term)
    if row is None or row["status"] not in SHOWN:
        return {"text": "–"}
    mark = "*" if row["status"] == "indicative" else ""
    sig = bool(verdict(pd.Series([row["significant"]]))[0])
    return {
        "text": (
            f"{format_number(row['odds_ratio'], w.language, 2)}{mark} "
            f"({w.ci(row['ci_low'], row['ci_high'], scale=1.0, digits=2)})"
        ),
        "sig": sig,
    }


def _term_label(term: str, w: _Words) -> str:
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


def _panel(results: Path, w: _Words, config: Mapping, focus: str) -> dict:
    """Who stayed in the panel: retention and the R-indicator per wave, how those who
    stayed until the focus wave differed in the baseline, and what the attrition-
    adjusted weights and the balanced panel change in the focus wave."""
    t = w.t
    baseline = str(config["data"]["baseline"])
    spec = config["attrition"]
    retention = _table(results, "attrition")
    retention = retention[retention["breakdown"] == "all"]
    r_table = _table(results, "r_indicators")
    rows = []
    for _, r in retention.iterrows():
        shown = r["status"] in SHOWN
        r_cell = _cell(r_table, wave=r["wave"])
        r_value = (
            "–"
            if r_cell is None or r_cell["status"] not in SHOWN or pd.isna(r_cell["r_indicator"])
            else format_number(r_cell["r_indicator"], w.language, 2)
        )
        rows.append(
            {
                "head": wave_label(r["wave"], w.language),
                "cells": [
                    {"text": w.num(r["n_stayed"]) if shown else "–"},
                    {"text": w.pct(r["retention"], r["status"], 0) if shown else "–"},
                    {"text": w.pct(r["weighted_retention"], r["status"], 0) if shown else "–"},
                    {"text": r_value},
                ],
            }
        )
    characteristics = _names(w, spec["characteristics"])
    last = retention.iloc[-1] if not retention.empty else None
    paragraphs = []
    if last is not None and last["status"] in SHOWN:
        paragraphs.append(
            t["panel_intro"].format(
                baseline=baseline,
                n_baseline=w.num(last["n_baseline"]),
                last=wave_label(last["wave"], w.language),
                n_stayed=w.num(last["n_stayed"]),
                retention=w.pct(last["retention"], last["status"], 0),
            )
        )
    paragraphs.append(t["panel_r_note"].format(baseline=baseline, characteristics=characteristics))
    retention_grid = {
        "caption": t["panel_caption"].format(baseline=baseline),
        "head": [
            t["col_wave"],
            t["col_stayed"],
            t["col_retention"],
            t["col_weighted_retention"],
            t["col_r_indicator"],
        ],
        "rows": rows,
    }
    stayers = _table(results, "attrition_stayers")
    stayers = stayers[stayers["wave"] == focus]
    stayer_rows = []
    for _, r in stayers.iterrows():
        shown = r["status"] in SHOWN
        sig = shown and bool(verdict(pd.Series([r["significant"]]))[0])
        stayer_rows.append(
            {
                "head": w.title(r["outcome"]),
                "cells": [
                    {"text": w.pct(r["estimate_stayers"], r["status"]) if shown else "–"},
                    {"text": w.pct(r["estimate_leavers"], r["status"]) if shown else "–"},
                    {"text": w.points(r["diff"]) if shown else "–", "sig": sig},
                    {"text": w.ci(r["ci_low"], r["ci_high"]) if shown else "–"},
                ],
            }
        )
    wave = wave_label(focus, w.language)
    stayers_grid = {
        "caption": t["stayers_caption"].format(baseline=baseline, wave=wave),
        "head": [
            t["col_figure"],
            t["col_stayers"],
            t["col_leavers"],
            t["col_change"],
            t["col_ci_level"].format(level=w.level(config)),
        ],
        "rows": stayer_rows,
        "note": t["stayers_note"].format(alpha=w.alpha(config)),
    }
    sensitivity = _table(results, "sensitivity_attrition")
    versions = list(dict.fromkeys(sensitivity["version"]))
    sens_rows = []
    for indicator in dict.fromkeys(sensitivity["indicator"]):
        cells = []
        for version in versions:
            cell = _cell(sensitivity, indicator=indicator, version=version, wave=focus)
            if cell is None or cell["status"] not in SHOWN:
                cells.append({"text": "–"})
                continue
            cells.append(
                {"text": f"{w.pct(cell['estimate'], cell['status'])} ({w.points(cell['diff'])})"}
            )
        sens_rows.append({"head": w.title(indicator), "cells": cells})
    sensitivity_grid = {
        "caption": t["sensitivity_caption"].format(wave=wave, baseline=baseline),
        "head": [t["col_figure"], *[t["versions"].get(v, v) for v in versions]],
        "rows": sens_rows,
        "note": t["sensitivity_note"].format(baseline=baseline, characteristics=characteristics),
    }
    return {
        "paragraphs": paragraphs,
        "retention": retention_grid,
        "stayers_text": t["stayers_text"].format(baseline=baseline, wave=wave),
        "stayers": stayers_grid if stayer_rows else None,
        "sensitivity_text": t["sensitivity_text"].format(baseline=baseline),
        "sensitivity": sensitivity_grid if sens_rows else None,
    }


def _method(w: _Words, config: Mapping, check: pd.DataFrame) -> dict:
    spec = config["indicators"]
    rules = DisclosureRules.from_config(config["disclosure"])
    t = w.t
    return {
        "definitions": [
            t["def_burnout"].format(
                cutoff=format_number(spec["burnout"]["cutoff"], w.language, 2),
                min_items=spec["burnout"]["min_items"],
            ),
            t["def_kans"],
            t["def_lonely"].format(
                items=len(spec["lonely"]["items"]),
                cutoff=format_number(spec["lonely"]["cutoff"], w.language, 0),
            ),
            t["def_physical"],
            t["def_location"],
        ],
        "design": t["design_text"].format(
            ci=config["tables"]["ci"],
            baseline=config["data"]["baseline"],
            margins=_margins(w, config["design"].get("calibration") or []),
        ),
        "disclosure": t["disclosure_text"].format(
            min_n=rules.min_n,
            flag_n=rules.flag_n,
            min_df=rules.min_df,
            max_ci_width=format_number(100 * rules.max_ci_width, w.language, 0),
            relative=format_percent(rules.max_relative_width, w.language, 0),
            round=w.num(rules.round_weighted_n),
            deff_decimals=rules.deff_decimals,
            suppressed=w.num((check["status"] == "suppressed").sum()),
            indicative=w.num((check["status"] == "indicative").sum()),
            output_check=f"{config['results_dir']}/output_check.csv",
        ),
        "limits": [
            t["limits_synthetic"] if config["data"]["source"] == "synthetic" else t["limits_real"],
            t["limits_panel"].format(baseline=config["data"]["baseline"]),
            t["limits_common"],
        ],
    }


def _quality(w: _Words, record: Mapping) -> list[str]:
    """Per input file, the values set missing because they were impossible (outside the
    schema's range) or codes the codebook does not know, with their counts."""
    lines = []
    for entry in record["inputs"]:
        for key, text in (
            ("values_out_of_range", "quality_out_of_range"),
            ("codes_not_mapped", "quality_not_mapped"),
        ):
            found = entry.get(key) or {}
            total = sum(sum(counts.values()) for counts in found.values())
            if total:
                details = "; ".join(
                    f"{variable}: "
                    + ", ".join(
                        w.t["quality_value"].format(value=code, count=w.num(n))
                        for code, n in counts.items()
                    )
                    for variable, counts in found.items()
                )
                lines.append(
                    w.t[text].format(
                        wave=wave_label(entry["wave"], w.language),
                        count=w.num(total),
                        details=details,
                    )
                )
    return lines or [w.t["quality_none"]]


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
        parts.append(
            w.t["design_margin"].format(columns=text) if "wave" in columns and within else text
        )
    return ", ".join(parts)


def _provenance(w: _Words, record: Mapping, config: Mapping) -> dict:
    t = w.t
    git = record["git"]
    clean = (
        t["prov_unknown"]
        if git["clean"] is None
        else t["prov_clean"]
        if git["clean"]
        else t["prov_dirty"]
    )
    totals = record["totals"]
    return {
        "intro": t["prov_intro"],
        "rows": [
            {
                "wave": wave_label(i["wave"], w.language),
                "file": i["file"],
                "sha": i["sha256"],
                "read": w.num(i["rows_read"]),
                "kept": w.num(i["rows_kept"]),
                "excluded": w.num(sum(i["rows_excluded"].values())),
            }
            for i in record["inputs"]
        ],
        "totals": t["prov_totals"].format(
            read=w.num(totals["rows_read"]),
            kept=w.num(totals["rows_kept"]),
            excluded=w.num(totals["rows_excluded"]),
            audits=f"{config['results_dir']}/harmonized",
        ),
        "code": t["prov_code"].format(
            version=record["packages"].get("neacovid"),
            commit=git["commit"] or t["prov_unknown"],
            clean=clean,
        ),
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
