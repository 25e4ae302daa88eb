"""Notebook parameters as papermill and Jupyter hand them over.

A notebook runs with the working directory of whoever started it: `notebooks/` when
opened in JupyterLab, the repository root for `papermill notebooks/... out.ipynb`, the
results directory in the pipeline. And `papermill -p waves "['2019', '2021-11']"`
passes a list as its text. These helpers make all of these mean the same thing.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from neacovid.errors import ConfigError


def analysis_file(path: str | os.PathLike | None = None) -> Path:
    """The analysis file a notebook reads: ``path`` relative to the working directory,
    or else to the repository; None: the default run's ``<results_dir>/analysis.parquet``
    (config.yaml). Raises `ConfigError` naming both places when it is in neither."""
    from neacovid.data.config import DEFAULT_CONFIG, REPO, load_yaml

    if path is None:
        path = Path(load_yaml(DEFAULT_CONFIG)["results_dir"]) / "analysis.parquet"
    path = Path(path)
    tried = [path] if path.is_absolute() else [Path.cwd() / path, REPO / path]
    for candidate in tried:
        if candidate.is_file():
            return candidate
    raise ConfigError(
        f"analysis file {path} is not in {' or '.join(str(c.parent) for c in tried)}: run "
        "the pipeline (neacovid run) or set the analysis_path parameter"
    )


def as_list(value, name: str, pairs: bool = False) -> list | None:
    """A list parameter: None, a list, or its text as papermill's ``-p`` passes it
    ("['2019', '2021-11']", "2019,2021-11", "2019"); items as text. ``pairs``: a list
    of two-item lists ("[['2019', '2020-06']]")."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                value = yaml.safe_load(text)
            except yaml.YAMLError:
                raise ConfigError(f"parameter {name}: {value!r} is not a list; write it as "
                                  "['a', 'b'] or a,b") from None
        else:
            value = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        value = [value]
    if not pairs:
        return [str(item) for item in value]
    if not all(isinstance(item, list | tuple) and len(item) == 2 for item in value):
        raise ConfigError(f"parameter {name}: {value!r} is not a list of pairs; write it as "
                          "[['2019', '2020-06'], ['2020-06', '2021-11']]")
    return [[str(a), str(b)] for a, b in value]
