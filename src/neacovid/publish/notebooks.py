"""Execute the analyst notebooks (papermill) and export them as self-contained HTML.

`render` is the workflow's ``notebooks`` step: it runs ``notebooks/<name>.ipynb``
with parameters (the analysis file, the design, the CI method, the disclosure
rules) into ``results/notebooks/<name>.ipynb`` and ``<name>.html``.

- Kernel: an ipykernel in the interpreter that runs this code
  (``sys.executable``), whatever kernelspecs are installed: in CI only the
  project's ``.venv`` exists, and on a workstation a user-level ``python3``
  kernelspec may point at another Python. The notebooks keep the standard
  ``python3`` kernel name, so analysts open them as usual.
- HTML: nbconvert's ``lab`` template with images embedded and every script
  the template would fetch from a CDN (require.js, MathJax, Mermaid) left out,
  so the file opens offline and makes no outside requests. Markdown in the
  notebooks therefore uses no LaTeX.
- Deterministic: papermill's and nbclient's timings and the memory addresses
  in object reprs are removed, and the injected parameters cell gets a fixed
  id, so the same inputs give the same notebook and HTML.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

import nbformat
import zmq
from ipykernel.kernelspec import RESOURCES, get_kernel_dict
from jupyter_client import AsyncKernelManager
from jupyter_client.kernelspec import KernelSpec
from traitlets import default

from neacovid.data.io import atomic_path
from neacovid.errors import NotebookError
from neacovid.publish.parameters import check_overrides

log = logging.getLogger("neacovid")

KERNEL_NAME = "python3"
INJECTED_CELL_ID = "injected-parameters"

# The lab template minus what it loads from CDNs (our notebooks have no widgets,
# math or Mermaid diagrams, so nothing is lost), and with alt text on figures.
_TEMPLATE_NAME = "neacovid_offline.html.j2"
_TEMPLATE = """{%- extends 'index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
{% block data_png scoped %}
<div class="jp-RenderedImage jp-OutputArea-output {{ extra_class }}">
<img src="data:image/png;base64,{{ output.data['image/png'] | escape_html }}"
{%- set width = output | get_metadata('width', 'image/png') %}
{%- if width is not none %} width={{ width | escape_html }}{% endif %}
{%- set height = output | get_metadata('height', 'image/png') %}
{%- if height is not none %} height={{ height | escape_html }}{% endif %}
 alt="{{ (output | get_metadata('alt', 'image/png') or resources.figure_alt) | escape_html }}">
</div>
{%- endblock data_png %}
"""
# Every figure in the notebooks comes right after the table with its numbers.
FIGURE_ALT = "Figure; its numbers are in the table above it"
_TIMING_KEYS = ("start_time", "end_time", "duration")
_ADDRESS = re.compile(r" at 0x[0-9a-f]+>")
# A resource the browser would fetch: src=, href=, CSS url() or @import of http(s) or //.
_EXTERNAL = re.compile(
    r"""(?:\b(?:src|href)\s*=\s*|url\(\s*|@import\s+)["']?\s*(?:https?:)?//""", re.IGNORECASE
)


def render(
    notebook: str | os.PathLike,
    ipynb: str | os.PathLike,
    html: str | os.PathLike,
    parameters: Mapping | None = None,
    overrides: Mapping | None = None,
    timeout: int | None = 600,
    km: AsyncKernelManager | None = None,
) -> None:
    """Execute ``notebook`` into ``ipynb`` and export it to ``html``.

    parameters: offered to every notebook (analysis_path, design columns, ci,
        level, disclosure); each is passed only where the notebook declares it.
    overrides: this notebook's own parameters (config.yaml
        ``notebooks.parameters.<name>``); each must be declared in its
        ``parameters`` cell.
    timeout: seconds one cell may run.
    """
    executed = execute(notebook, parameters, overrides, timeout, km)
    with atomic_path(ipynb) as tmp:
        nbformat.write(executed, str(tmp))
    page = to_html(executed, title=Path(notebook).stem)
    with atomic_path(html) as tmp:
        tmp.write_text(page, encoding="utf-8")
    log.info("wrote %s and %s", ipynb, html)


def pipeline_parameters(
    analysis: str | os.PathLike,
    design: Mapping,
    ci: str,
    level: float,
    disclosure: Mapping,
) -> dict:
    """What the workflow passes to every notebook that declares it (config.yaml's values).

    The analysis path is made absolute: the kernel runs in ``notebooks/``.
    """
    from neacovid.survey.design import Design

    spec = Design.from_mapping(design)  # checked, with the defaults filled in
    return {
        "analysis_path": str(Path(analysis).resolve()),
        "design": {
            "weight": spec.weight,
            "strata": spec.strata,
            "psu": spec.psu,
            "fpc": spec.fpc,
            "lonely_psu": spec.lonely_psu,
            "calibration": list(spec.calibration),
        },
        "ci": ci,
        "level": level,
        "disclosure": dict(disclosure),
    }


def render_many(
    jobs: Sequence[tuple[str | os.PathLike, str | os.PathLike, str | os.PathLike, Mapping]],
    parameters: Mapping | None = None,
    timeout: int | None = 600,
) -> None:
    """`render` for each (notebook, ipynb, html, overrides) of ``jobs``, all in one
    kernel: it starts once, and pandas, plotnine and neacovid are imported once.
    Each notebook starts from an empty namespace (IPython's ``%reset -f``), and its
    execution counts are numbered from 1, so it reads as if it ran alone. The
    notebooks share a working directory: that of the first."""
    from jupyter_core.utils import run_sync

    km = ThisPythonKernelManager()
    try:
        for notebook, ipynb, html, overrides in jobs:
            render(notebook, ipynb, html, parameters, overrides, timeout, km=km)
    finally:
        if km.has_kernel:
            run_sync(km.shutdown_kernel)(now=True)


_RESET_TAG = "neacovid-reset-namespace"


def execute(
    notebook: str | os.PathLike,
    parameters: Mapping | None = None,
    overrides: Mapping | None = None,
    timeout: int | None = 600,
    km: AsyncKernelManager | None = None,
) -> nbformat.NotebookNode:
    """Run ``notebook`` with papermill and return it, executed and cleaned of timings.
    ``km``: a kernel to reuse (`render_many`); the notebook first empties its
    namespace, and that cell is taken out again."""
    import papermill
    from papermill.exceptions import PapermillExecutionError

    notebook = Path(notebook)
    if not notebook.is_file():
        raise NotebookError(f"notebook {notebook} does not exist; check notebooks.names")
    declared = check_overrides(notebook, overrides or {})
    passed = {k: v for k, v in (parameters or {}).items() if k in declared}
    passed.update(overrides or {})
    logging.getLogger("papermill").setLevel(logging.WARNING)  # its paths repeat ours
    log.info("executing %s with %s", notebook, ", ".join(f"{k}={v!r}" for k, v in passed.items()))
    source: str | nbformat.NotebookNode = str(notebook)
    shared = {}
    if km is not None:
        source = nbformat.read(str(notebook), as_version=4)
        reset = nbformat.v4.new_code_cell("%reset -f", metadata={"tags": [_RESET_TAG]})
        source.cells.insert(0, reset)
        shared = {"km": km}
    try:
        executed = papermill.execute_notebook(
            source,
            None,  # written by the caller, atomically, after clean-up
            parameters=passed,
            kernel_name=KERNEL_NAME,
            progress_bar=False,
            request_save_on_cell_execute=False,
            cwd=str(notebook.parent),  # as in Jupyter: relative paths from notebooks/
            execution_timeout=timeout,
            kernel_manager_class=ThisPythonKernelManager,
            record_timing=False,
            **shared,
        )
    except PapermillExecutionError as err:
        log.error("%s", "\n".join(_strip_ansi(line) for line in err.traceback))
        index = err.cell_index - (1 if km is not None else 0)
        raise NotebookError(
            f"{notebook}: cell {index} failed: {err.ename}: {_strip_ansi(err.evalue)}"
        ) from None
    if km is not None:
        executed.cells = [
            c for c in executed.cells if _RESET_TAG not in c.get("metadata", {}).get("tags", [])
        ]
        count = 0
        for cell in executed.cells:  # as a fresh kernel counts
            if cell.cell_type == "code" and cell.get("execution_count") is not None:
                count += 1
                cell.execution_count = count
                for output in cell.get("outputs", []):
                    if "execution_count" in output:
                        output["execution_count"] = count
    return clean(executed, input_name=notebook.name)


def clean(nb: nbformat.NotebookNode, input_name: str) -> nbformat.NotebookNode:
    """Drop timings and machine-specific paths; give the injected cell a fixed id."""
    meta = nb.metadata.get("papermill", {})
    for key in (*_TIMING_KEYS, "environment_variables", "output_path"):
        meta.pop(key, None)
    if "input_path" in meta:
        meta["input_path"] = input_name
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        cell_meta = cell.metadata.get("papermill", {})
        for key in _TIMING_KEYS:
            cell_meta.pop(key, None)
        if INJECTED_CELL_ID in cell.metadata.get("tags", []):
            cell["id"] = INJECTED_CELL_ID
        for output in cell.get("outputs", []):
            data = output.get("data", {})
            # a figure's text alternative is "<... object at 0x7f...>": drop the address
            if "text/plain" in data and _ADDRESS.search(str(data["text/plain"])):
                data["text/plain"] = _ADDRESS.sub(">", str(data["text/plain"]))
    return nb


@cache
def _html_exporter():
    """One exporter per process: finding and compiling the lab template takes about half
    a second, and every notebook of a run uses the same."""
    import jinja2
    from nbconvert import HTMLExporter

    return HTMLExporter(
        template_name="lab",
        template_file=_TEMPLATE_NAME,
        extra_loaders=[jinja2.DictLoader({_TEMPLATE_NAME: _TEMPLATE})],
        embed_images=True,
        theme="light",
    )


def to_html(nb: nbformat.NotebookNode, title: str) -> str:
    """The executed notebook as one HTML file that loads nothing from elsewhere."""
    page, _ = _html_exporter().from_notebook_node(
        nb, resources={"metadata": {"name": title}, "figure_alt": FIGURE_ALT}
    )
    found = _EXTERNAL.search(page)
    if found:  # a template or output change would otherwise leak requests silently
        start = max(found.start() - 60, 0)
        raise NotebookError(
            f"the HTML of {title} references an outside resource near "
            f"{page[start : found.end() + 60]!r}; it must be self-contained"
        )
    return page


def _strip_ansi(text: str) -> str:
    return re.sub(r"\x1b\[[0-9;]*m", "", text)


class ThisPythonKernelManager(AsyncKernelManager):
    """Starts ipykernel with ``sys.executable``, ignoring installed kernelspecs.

    The kernel's traffic is CurveZMQ-encrypted where pyzmq supports it: even on
    localhost, outputs computed from restricted microdata stay private.
    """

    @default("transport_encryption")
    def _encrypt_when_possible(self) -> str:
        return "auto" if zmq.has("curve") else "disabled"

    @property
    def kernel_spec(self) -> KernelSpec:
        if self._kernel_spec is None:
            self._kernel_spec = KernelSpec(resource_dir=RESOURCES, **get_kernel_dict())
        return self._kernel_spec
