"""The policy report: a self-contained HTML page per language (Jinja2).

Every number in the text comes from the tables handed in; the templates hold
words only. Dutch numbers use a decimal comma.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import jinja2
import pandas as pd

from neacovid.errors import ConfigError

LANGUAGES = ("nl", "en")

TEXT = {
    "nl": {
        "title": "Hybride werken en welbevinden van werknemers: NEA COVID-19",
        "lang": "nl",
        "synthetic_banner": (
            "Synthetische demonstratiedata: deze cijfers komen uit een nagebootst "
            "bestand, niet uit de echte NEA-microdata. Ze tonen hoe de analyse werkt, "
            "niet hoe het met werknemers gaat."
        ),
        "real_source": "Bron: NEA COVID-19 microdata (TNO/CBS).",
        "key_figures": "Kerncijfers",
        "key_figures_intro": (
            "Elk gepubliceerd cijfer uit de Kamerbrief naast de schatting van deze "
            "analyse, met 95%-betrouwbaarheidsinterval."
        ),
        "caption": "Gepubliceerde cijfers en schattingen van deze analyse (procenten)",
        "col_figure": "Cijfer",
        "col_wave": "Meting",
        "col_population": "Populatie",
        "col_published": "Gepubliceerd",
        "col_estimate": "Schatting",
        "col_ci": "95%-interval",
        "col_n": "n",
        "col_agrees": "Binnen interval",
        "yes": "ja",
        "no": "nee",
        "agree_summary": "{agree} van de {total} gepubliceerde cijfers liggen binnen het "
        "95%-interval van deze analyse.",
        "data": "Gegevens",
        "col_file": "Bestand",
        "col_read": "Gelezen",
        "col_kept": "Gebruikt",
        "col_excluded": "Uitgesloten",
        "data_caption": "Respondenten per meting",
        "populations": {
            "employees": "alle werknemers",
            "home_any workers": "(deels) thuiswerkers",
            "on_site workers": "werkenden op locatie",
        },
        "indicators": {
            "location": "werklocatie",
            "home_any": "(deels) thuis",
            "burnout": "burn-outklachten",
            "kans": "KANS-klachten",
            "lonely": "eenzaam",
            "future_hybrid": "wil in de toekomst hybride werken",
            "physical": "fysieke klachten",
        },
        "categories": {"on_site": "op locatie", "hybrid": "hybride", "home": "thuis"},
    },
    "en": {
        "title": "Hybrid work and employee well-being: NEA COVID-19",
        "lang": "en",
        "synthetic_banner": (
            "Synthetic demonstration data: these figures come from a simulated file, "
            "not from the real NEA microdata. They show how the analysis works, not "
            "how employees fare."
        ),
        "real_source": "Source: NEA COVID-19 microdata (TNO/CBS).",
        "key_figures": "Key figures",
        "key_figures_intro": (
            "Each figure published in the letter to parliament next to this "
            "analysis's estimate, with its 95% confidence interval."
        ),
        "caption": "Published figures and this analysis's estimates (percent)",
        "col_figure": "Figure",
        "col_wave": "Wave",
        "col_population": "Population",
        "col_published": "Published",
        "col_estimate": "Estimate",
        "col_ci": "95% interval",
        "col_n": "n",
        "col_agrees": "Within interval",
        "yes": "yes",
        "no": "no",
        "agree_summary": "{agree} of the {total} published figures lie within this "
        "analysis's 95% interval.",
        "data": "Data",
        "col_file": "File",
        "col_read": "Read",
        "col_kept": "Used",
        "col_excluded": "Excluded",
        "data_caption": "Respondents per wave",
        "populations": {
            "employees": "all employees",
            "home_any workers": "(partly) home workers",
            "on_site workers": "on-site workers",
        },
        "indicators": {
            "location": "work location",
            "home_any": "(partly) at home",
            "burnout": "burn-out complaints",
            "kans": "arm/neck/shoulder complaints (KANS)",
            "lonely": "lonely",
            "future_hybrid": "wants hybrid work in future",
            "physical": "physical complaints",
        },
        "categories": {"on_site": "on location", "hybrid": "hybrid", "home": "at home"},
    },
}


def format_number(value: float, language: str, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    text = f"{value:,.{digits}f}"
    if language == "nl":  # 1,234.5 -> 1.234,5
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def render_report(
    key_figures: pd.DataFrame,
    audits: Sequence[Mapping],
    template_dir: str,
    language: str,
    data_source: str,
    config: Mapping,
) -> str:
    if language not in LANGUAGES:
        raise ConfigError(f"report language {language!r} is not one of {', '.join(LANGUAGES)}")
    text = TEXT[language]
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
    )

    def num(value, digits=1):
        return format_number(value, language, digits)

    def figure_label(row) -> str:
        name = text["indicators"].get(row["indicator"], row["indicator"])
        category = str(row["category"])
        if category not in ("1", "1.0"):
            name = f"{name}: {text['categories'].get(category, category)}"
        return name

    rows = [
        {
            "label": figure_label(r),
            "wave": r["wave"],
            "population": text["populations"].get(r["population"], r["population"]),
            "published": num(r["published"]),
            "estimate": num(r["estimate"]),
            "ci": f"{num(r['ci_low'])} – {num(r['ci_high'])}",
            "n": num(r["n"], 0),
            "agrees": bool(r["within_ci"]),
        }
        for _, r in key_figures.iterrows()
    ]
    data_rows = [
        {
            "wave": a["wave"],
            "file": a["file"],
            "read": num(a["rows_read"], 0),
            "kept": num(a["rows_kept"], 0),
            "excluded": num(sum(a["rows_excluded"].values()), 0),
        }
        for a in audits
    ]
    template = env.get_template("report.html.j2")
    return template.render(
        t=text,
        synthetic=data_source == "synthetic",
        key_rows=rows,
        agree=int(key_figures["within_ci"].sum()),
        total=len(key_figures),
        data_rows=data_rows,
    )
