"""Words and number formats shared by the report and the figures.

The words themselves live in YAML beside the report template
(``workflow/templates/report_text.yaml``, ``figures_text.yaml``), one mapping
per language; this module reads them and formats numbers the way each
language writes them (``16,9%`` in Dutch, ``16.9%`` in English).
"""

from __future__ import annotations

import math
from functools import cache
from pathlib import Path

import pandas as pd

from neacovid.data.config import REPO
from neacovid.data.yamlfile import read_yaml
from neacovid.errors import ConfigError

LANGUAGES = ("nl", "en")
TEMPLATE_DIR = REPO / "workflow" / "templates"
MINUS = "\u2212"


@cache
def _load(path: Path) -> dict:
    # The project's loader: a key written twice is an error, not the later one winning.
    return read_yaml(path, what="words file")


def words(name: str, language: str, template_dir: str | Path = TEMPLATE_DIR) -> dict:
    """The mapping of ``<template_dir>/<name>.yaml`` for ``language``."""
    if language not in LANGUAGES:
        raise ConfigError(f"language {language!r} is not one of {', '.join(LANGUAGES)}")
    return _load(Path(template_dir) / f"{name}.yaml")[language]


def format_number(value, language: str, digits: int = 1) -> str:
    """1234.5 -> ``1.234,5`` (nl) / ``1,234.5`` (en); missing -> an en dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)) or pd.isna(value):
        return "–"
    text = f"{float(value):,.{digits}f}"
    if language == "nl":  # 1,234.5 -> 1.234,5
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def format_percent(share, language: str, digits: int = 1) -> str:
    """0.169 -> ``16,9%`` (nl) / ``16.9%`` (en)."""
    if share is None or pd.isna(share):
        return "–"
    return f"{format_number(100 * float(share), language, digits)}%"


def format_signed(value: float, language: str, digits: int = 1) -> str:
    """A difference with its sign and a real minus: ``+1,2``, ``−0,4``; ``0,0`` unsigned."""
    text = format_number(abs(value), language, digits)
    if round(value, digits) == 0:
        return text
    return ("+" if value > 0 else MINUS) + text


def wave_label(wave: str, language: str, sep: str = " ") -> str:
    """``2021-11`` -> ``nov 2021`` (nl) / ``Nov 2021`` (en); other ids stay as they are."""
    text = str(wave)
    year, _, month = text.partition("-")
    if year.isdigit() and month.isdigit() and 1 <= int(month) <= 12:
        return f"{words('figures_text', language)['months'][int(month) - 1]}{sep}{year}"
    return text


def filled(texts, replacements: dict[str, str]):
    """``texts`` (words as read: strings in dicts and lists) with every placeholder of
    ``replacements`` ("{level}": "95%") replaced; other placeholders stay for later."""
    if isinstance(texts, str):
        for key, text in replacements.items():
            texts = texts.replace(key, text)
        return texts
    if isinstance(texts, dict):
        return {k: filled(v, replacements) for k, v in texts.items()}
    if isinstance(texts, list):
        return [filled(v, replacements) for v in texts]
    return texts


def level_text(level: float, language: str) -> str:
    """A confidence level as readers write it: 0.95 -> "95%", 0.975 -> "97,5%"."""
    digits = 0 if round(100 * level, 6) == round(100 * level) else 1
    return format_percent(level, language, digits)
