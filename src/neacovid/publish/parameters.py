"""Notebook parameters: what a notebook declares, and what it is handed.

`declared_parameters` reads a notebook's cell tagged ``parameters`` (as papermill
does, from the file alone: no Jupyter import, so the workflow checks notebooks while
it plans its jobs); `check_notebooks` holds config.yaml's ``notebooks:`` against them.

Inside a notebook: it runs with the working directory of whoever started it
(`notebooks/` when opened in JupyterLab, the repository root for `papermill
notebooks/... out.ipynb`), and `papermill -p waves "['2019', '2021-11']"` passes a
list as its text. `analysis_file` and `as_list` make these mean the same thing.
"""

from __future__ import annotations

import ast
import json
import os
from collections.abc import Mapping
from pathlib import Path

import yaml

from neacovid.errors import ConfigError, NotebookError


def declared_parameters(notebook: str | os.PathLike) -> dict[str, str]:
    """The parameters of the notebook's ``parameters`` cell: {name: default as code}."""
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code" or "parameters" not in cell.get("metadata", {}).get(
            "tags", []
        ):
            continue
        source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
        declared = {}
        for node in ast.parse(source).body:
            if (
                isinstance(node, ast.Assign)
                and len(node.targets) == 1
                and isinstance(node.targets[0], ast.Name)
            ):
                declared[node.targets[0].id] = ast.get_source_segment(source, node.value)
            elif (
                isinstance(node, ast.AnnAssign)
                and isinstance(node.target, ast.Name)
                and node.value is not None
            ):
                declared[node.target.id] = ast.get_source_segment(source, node.value)
        return declared
    return {}


def check_overrides(notebook: Path, overrides: Mapping) -> dict[str, str]:
    """``overrides`` are parameters ``notebook`` declares; its declared parameters."""
    declared = declared_parameters(notebook)
    if not declared:
        raise NotebookError(f"{notebook}: no cell tagged 'parameters'; tag the parameters cell")
    unknown = sorted(set(overrides) - set(declared))
    if unknown:
        raise ConfigError(
            f"config notebooks.parameters.{notebook.stem}: {unknown[0]!r} is not a parameter "
            f"of {notebook}; its parameters are: {', '.join(declared)}"
        )
    return declared


def check_notebooks(names: list[str], overrides: Mapping, notebook_dir: str | os.PathLike) -> None:
    """config.yaml ``notebooks:`` against the notebooks, before anything runs.

    Every name is a ``<notebook_dir>/<name>.ipynb`` with a ``parameters`` cell,
    and every override names a listed notebook and one of its parameters.
    """
    notebook_dir = Path(notebook_dir)
    for name in names:
        path = notebook_dir / f"{name}.ipynb"
        if not path.is_file():
            available = ", ".join(sorted(p.stem for p in notebook_dir.glob("*.ipynb")))
            raise ConfigError(
                f"config notebooks.names: {path} does not exist; notebooks: {available}"
            )
    for name, values in overrides.items():
        if name not in names:
            raise ConfigError(
                f"config notebooks.parameters: {name!r} is not in notebooks.names; "
                "add it there or remove its parameters"
            )
        check_overrides(notebook_dir / f"{name}.ipynb", values)


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
                raise ConfigError(
                    f"parameter {name}: {value!r} is not a list; write it as ['a', 'b'] or a,b"
                ) from None
        else:
            value = [part.strip() for part in text.split(",") if part.strip()]
    if not isinstance(value, list | tuple):
        value = [value]
    if not pairs:
        return [str(item) for item in value]
    if not all(isinstance(item, list | tuple) and len(item) == 2 for item in value):
        raise ConfigError(
            f"parameter {name}: {value!r} is not a list of pairs; write it as "
            "[['2019', '2020-06'], ['2020-06', '2021-11']]"
        )
    return [[str(a), str(b)] for a, b in value]
