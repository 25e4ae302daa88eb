"""The analyst notebooks: committed clean, executed by papermill on a small analysis
file, exported to self-contained HTML, and showing no record-level data.

The analysis file is made as the pipeline makes it (synthetic .sav files ->
harmonize -> indicators), at a small scale, with panel ids rewritten to a
recognisable pattern so that any id leaking into an output is found.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from neacovid import workflow
from neacovid.data.codebook import load_codebook
from neacovid.data.config import load_config
from neacovid.data.harmonize import harmonize_wave
from neacovid.data.synth import write_waves
from neacovid.errors import ConfigError, NotebookError
from neacovid.publish.notebooks import (
    INJECTED_CELL_ID,
    pipeline_parameters,
    render,
    render_many,
)
from neacovid.publish.parameters import check_notebooks, declared_parameters
from neacovid.survey.design import Design

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK_DIR = REPO / "notebooks"
NAMES = ["01_explore", "02_custom_breakdown", "03_panel_transitions"]
SCALE = 0.02
ID_PATTERN = re.compile(r"ID\d{6}Q")
# Anything a browser would fetch from elsewhere: src/href/url()/@import of http(s): or //.
EXTERNAL = re.compile(
    r"""(?:\b(?:src|href)\s*=\s*|url\(\s*|@import\s+)["']?\s*(?:https?:)?//""", re.IGNORECASE
)
CONFIG = load_config()


def _code_cells(nb):
    return [c for c in nb.cells if c.cell_type == "code"]


# -- the committed notebooks -------------------------------------------------------


def test_the_notebooks_are_there():
    assert {p.stem for p in NOTEBOOK_DIR.glob("*.ipynb")} >= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_committed_notebook_has_no_outputs(name):
    nb = nbformat.read(NOTEBOOK_DIR / f"{name}.ipynb", as_version=4)
    nbformat.validate(nb)
    for cell in _code_cells(nb):
        assert cell.outputs == [], f"{name}: cell {cell.id} has outputs; clear them"
        assert cell.execution_count is None, f"{name}: cell {cell.id} has an execution count"
        assert "injected-parameters" not in cell.metadata.get("tags", [])
    assert "papermill" not in nb.metadata
    assert nb.metadata.kernelspec.name == "python3"


@pytest.mark.parametrize("name", NAMES)
def test_parameters_default_to_the_pipeline_files_and_config(name):
    declared = {
        k: ast.literal_eval(v)
        for k, v in declared_parameters(NOTEBOOK_DIR / f"{name}.ipynb").items()
    }
    # None: the default run's analysis file, wherever the notebook is started from
    assert declared["analysis_path"] is None
    assert Design.from_mapping(declared["design"]) == Design.from_mapping(CONFIG["design"])
    if "disclosure" in CONFIG:
        assert declared["disclosure"] == CONFIG["disclosure"]
    for key in ("ci", "level"):
        if key in declared:
            assert declared[key] == CONFIG["tables"][key]


# -- executed ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def analysis(tmp_path_factory) -> Path:
    """The pipeline's analysis file at a small scale, panel ids made recognisable."""
    tmp = tmp_path_factory.mktemp("analysis")
    data = CONFIG["data"]
    files = write_waves(
        tmp / "sav", seed=data["seed"], scale=SCALE, waves_csv=REPO / data["waves_csv"]
    )
    codebook = load_codebook(REPO / data["codebook"])
    harmonized = []
    for wave in data["waves"]:
        frame, _ = harmonize_wave(files[wave], wave, codebook)
        harmonized.append(str(tmp / f"{wave}.parquet"))
        frame.to_parquet(harmonized[-1], index=False)
    path = tmp / "analysis.parquet"
    workflow.indicators(harmonized, CONFIG["indicators"], str(path), baseline=data["baseline"])
    frame = pd.read_parquet(path)
    codes, _ = pd.factorize(frame["resp_id"])
    frame["resp_id"] = [f"ID{c:06d}Q" for c in codes]
    frame.to_parquet(path, index=False)
    return path


def _parameters(analysis: Path) -> dict:
    return pipeline_parameters(
        analysis,
        CONFIG["design"],
        CONFIG["tables"]["ci"],
        CONFIG["tables"]["level"],
        CONFIG.get(
            "disclosure", {"min_n": 10, "flag_n": 200, "max_rse": 0.3, "round_weighted_n": 1000}
        ),
    )


@pytest.fixture(scope="module")
def rendered(analysis, tmp_path_factory):
    out = tmp_path_factory.mktemp("notebooks")
    start = time.perf_counter()
    # as the pipeline renders them: all in one kernel
    render_many(
        [
            (NOTEBOOK_DIR / f"{name}.ipynb", out / f"{name}.ipynb", out / f"{name}.html", {})
            for name in NAMES
        ],
        _parameters(analysis),
    )
    return out, time.perf_counter() - start


def test_all_three_run_within_a_minute(rendered):
    out, seconds = rendered
    for name in NAMES:
        assert (out / f"{name}.ipynb").is_file() and (out / f"{name}.html").is_file()
    assert seconds < 60, f"executing the notebooks took {seconds:.1f} s"


@pytest.mark.parametrize("name", NAMES)
def test_every_cell_ran_on_the_given_file(rendered, analysis, name):
    nb = nbformat.read(rendered[0] / f"{name}.ipynb", as_version=4)
    cells = _code_cells(nb)
    assert all(c.execution_count is not None for c in cells)
    assert not [o for c in cells for o in c.outputs if o.output_type == "error"]
    assert nb.metadata.papermill["parameters"]["analysis_path"] == str(analysis.resolve())
    figures = [o for c in cells for o in c.outputs if "image/png" in o.get("data", {})]
    assert figures, f"{name} shows no figure"


@pytest.mark.parametrize("name", NAMES)
def test_no_panel_ids_in_the_outputs(rendered, name):
    for suffix in ("ipynb", "html"):
        text = (rendered[0] / f"{name}.{suffix}").read_text(encoding="utf-8")
        found = ID_PATTERN.search(text)
        assert found is None, f"{name}.{suffix} shows a respondent id: {found.group()}"


@pytest.mark.parametrize("name", NAMES)
def test_html_is_self_contained(rendered, name):
    page = (rendered[0] / f"{name}.html").read_text(encoding="utf-8")
    found = EXTERNAL.search(page)
    assert found is None, page[max(found.start() - 80, 0) : found.end() + 80]
    assert "<script src" not in page and "<link " not in page
    assert "data:image/png;base64," in page  # figures embedded
    assert 'alt="No description' not in page


@pytest.mark.parametrize("name", NAMES)
def test_no_timings_and_a_fixed_injected_cell(rendered, name):
    nb = json.loads((rendered[0] / f"{name}.ipynb").read_text(encoding="utf-8"))
    text = json.dumps(nb)
    for key in ("start_time", "end_time", "duration", "iopub.execute_input"):
        assert f'"{key}"' not in text, key
    ids = [c["id"] for c in nb["cells"]]
    assert INJECTED_CELL_ID in ids


def test_same_inputs_give_the_same_notebook(rendered, analysis, tmp_path):
    name = "02_custom_breakdown"
    render(
        NOTEBOOK_DIR / f"{name}.ipynb",
        tmp_path / f"{name}.ipynb",
        tmp_path / f"{name}.html",
        _parameters(analysis),
    )
    for suffix in ("ipynb", "html"):
        again = (tmp_path / f"{name}.{suffix}").read_bytes()
        assert again == (rendered[0] / f"{name}.{suffix}").read_bytes(), suffix


def _texts(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    return "\n".join(
        o.get("text", "") + o.get("data", {}).get("text/plain", "")
        for c in _code_cells(nb)
        for o in c.outputs
    )


def test_custom_breakdown_of_a_mean_for_chosen_waves(analysis, tmp_path):
    render(
        NOTEBOOK_DIR / "02_custom_breakdown.ipynb",
        tmp_path / "out.ipynb",
        tmp_path / "out.html",
        _parameters(analysis),
        overrides={"indicator": "sitting_hours", "breakdown": None, "waves": ["2019", "2021-11"]},
    )
    text = _texts(tmp_path / "out.ipynb")
    assert "means of sitting_hours by wave; waves 2019, 2021-11" in text
    assert "2020-06" not in text.split("means of sitting_hours", 1)[1]


def test_custom_breakdown_of_a_category_with_another_ci(analysis, tmp_path):
    render(
        NOTEBOOK_DIR / "02_custom_breakdown.ipynb",
        tmp_path / "out.ipynb",
        tmp_path / "out.html",
        _parameters(analysis),
        overrides={"indicator": "location", "breakdown": "age_group", "ci": "beta"},
    )
    text = _texts(tmp_path / "out.ipynb")
    assert "shares of location by wave x age_group" in text
    assert "suppressed" in text  # small age groups at this scale


def test_kernel_is_this_interpreter_without_any_kernelspec(tmp_path, monkeypatch):
    # As in CI with only .venv: no installed kernelspec may be needed (or used).
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    def no_kernelspecs(*args, **kwargs):
        raise NoSuchKernel("python3")

    monkeypatch.setattr(KernelSpecManager, "get_kernel_spec", no_kernelspecs)
    monkeypatch.setattr(KernelSpecManager, "find_kernel_specs", no_kernelspecs)
    nb = nbformat.v4.new_notebook(
        metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}
        }
    )
    params = nbformat.v4.new_code_cell("greeting = 'x'")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell("import sys\nprint(sys.executable)")]
    nbformat.write(nb, tmp_path / "which.ipynb")
    render(tmp_path / "which.ipynb", tmp_path / "out.ipynb", tmp_path / "out.html")
    out = nbformat.read(tmp_path / "out.ipynb", as_version=4)
    assert out.cells[-1].outputs[0]["text"].strip() == sys.executable


# -- bad input -------------------------------------------------------------------------


def test_unknown_parameter_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="'colour' is not a parameter"):
        render(
            NOTEBOOK_DIR / "02_custom_breakdown.ipynb",
            tmp_path / "x.ipynb",
            tmp_path / "x.html",
            overrides={"colour": "red"},
        )
    assert not (tmp_path / "x.ipynb").exists()


def test_check_notebooks_before_running():
    check_notebooks(NAMES, {"02_custom_breakdown": {"indicator": "kans"}}, NOTEBOOK_DIR)
    with pytest.raises(ConfigError, match="does not exist"):
        check_notebooks(["09_missing"], {}, NOTEBOOK_DIR)
    with pytest.raises(ConfigError, match="not in notebooks.names"):
        check_notebooks(["01_explore"], {"02_custom_breakdown": {}}, NOTEBOOK_DIR)
    with pytest.raises(ConfigError, match="'nope' is not a parameter"):
        check_notebooks(["01_explore"], {"01_explore": {"nope": 1}}, NOTEBOOK_DIR)


def test_missing_analysis_file_fails_with_one_line(tmp_path):
    with pytest.raises(NotebookError, match=r"cell \d+ failed: ConfigError: .*neacovid run"):
        render(
            NOTEBOOK_DIR / "01_explore.ipynb",
            tmp_path / "x.ipynb",
            tmp_path / "x.html",
            {"analysis_path": str(tmp_path / "absent.parquet")},
        )
    assert not (tmp_path / "x.ipynb").exists() and not (tmp_path / "x.html").exists()


# -- as an analyst starts them ---------------------------------------------------------


@pytest.mark.parametrize("start", ["repository root", "notebooks/"])
def test_papermill_command_of_the_readme(analysis, tmp_path, start):
    """`papermill notebooks/02_custom_breakdown.ipynb out.ipynb -p ...` from the
    repository root (the README) and from notebooks/ (as Jupyter would); a list
    parameter given with -p arrives as text and still works."""
    import os
    import subprocess

    relative = os.path.relpath(analysis, REPO)  # as a path inside the checkout would be
    cwd = REPO if start == "repository root" else NOTEBOOK_DIR
    notebook = os.path.relpath(NOTEBOOK_DIR / "02_custom_breakdown.ipynb", cwd)
    out = tmp_path / "out.ipynb"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "papermill",
            notebook,
            str(out),
            "-k",
            "python3",
            "-p",
            "indicator",
            "kans",
            "-p",
            "breakdown",
            "age_group",
            "-p",
            "waves",
            "['2019', '2021-11']",
            "-p",
            "analysis_path",
            relative,
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-1500:]
    text = _texts(out)
    assert "shares of kans by wave x age_group; waves 2019, 2021-11" in text


def test_analysis_file_and_list_parameters(tmp_path, monkeypatch):
    from neacovid.publish.parameters import analysis_file, as_list

    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "analysis.parquet").write_bytes(b"x")
    monkeypatch.chdir(tmp_path)
    assert analysis_file("results/analysis.parquet") == tmp_path / "results/analysis.parquet"
    assert analysis_file(None) == tmp_path / "results" / "analysis.parquet"
    monkeypatch.chdir(NOTEBOOK_DIR)  # Jupyter's working directory: relative to the repo
    assert analysis_file("notebooks/01_explore.ipynb") == NOTEBOOK_DIR / "01_explore.ipynb"
    with pytest.raises(ConfigError, match="absent.parquet is not in .* or .*neacovid run"):
        analysis_file("absent.parquet")
    assert as_list("['2019', '2021-11']", "waves") == ["2019", "2021-11"]
    assert as_list("2019, 2021-11", "waves") == ["2019", "2021-11"]
    assert as_list([2019], "waves") == ["2019"] and as_list(None, "waves") is None
    assert as_list("[['2019', '2020-06']]", "pairs", pairs=True) == [["2019", "2020-06"]]
    with pytest.raises(ConfigError, match="not a list of pairs"):
        as_list("['2019']", "pairs", pairs=True)
