"""The package layout is the architecture: layers import downwards only, no cycles,
no words for readers in code, and nothing POSIX-only at import time."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "neacovid"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every neacovid module ``path`` imports, at module level or inside functions."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    # Imports for type annotations only (under `if TYPE_CHECKING:`) do not run.
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", None) == "TYPE_CHECKING":
            node.body = []
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("neacovid")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if not node.module.startswith("neacovid"):
                continue
            found.add(node.module)
            # "from neacovid.survey import design" imports the module neacovid.survey.design
            for alias in node.names:
                candidate = f"{node.module}.{alias.name}"
                if _path_of(candidate) is not None:
                    found.add(candidate)
    return found


def _path_of(module: str) -> Path | None:
    rel = Path(*module.split(".")[1:])
    for candidate in (PACKAGE / rel.with_suffix(".py"), PACKAGE / rel / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
GRAPH = {name: {m for m in _imports(path) if m in MODULES} for name, path in MODULES.items()}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "neacovid"


def test_the_layers_exist():
    for layer in ("survey", "data", "publish"):
        assert (PACKAGE / layer / "__init__.py").is_file()
    for module in ("workflow", "cli", "run", "errors"):
        assert (PACKAGE / f"{module}.py").is_file()
    flat = {p.stem for p in PACKAGE.glob("*.py")}
    assert flat <= {"__init__", "__main__", "_moved", "errors", "workflow", "cli", "run"}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) == "survey"))
def test_survey_imports_only_statistics(module):
    bad = {m for m in GRAPH[module] if _layer(m) not in ("survey", "errors")}
    assert not bad, f"{module} imports {sorted(bad)}: survey/ is pure statistics"


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) == "data"))
def test_data_does_not_import_publish(module):
    bad = {m for m in GRAPH[module] if _layer(m) in ("publish", "workflow", "cli", "run")}
    assert not bad, f"{module} imports {sorted(bad)}"


def test_nothing_imports_workflow_or_cli():
    for module, imported in GRAPH.items():
        for target in ("neacovid.workflow", "neacovid.cli"):
            if target in imported and module not in ("neacovid.__main__", "neacovid._moved"):
                raise AssertionError(f"{module} imports {target}")
    run = GRAPH["neacovid.run"]
    assert "neacovid.workflow" not in run and "neacovid.cli" not in run


def test_no_import_cycles():
    state: dict[str, int] = {}  # 1: on the stack, 2: done

    def visit(module: str, stack: list[str]) -> None:
        state[module] = 1
        for target in sorted(GRAPH[module]):
            if target == module or target == "neacovid":
                continue
            if state.get(target) == 1:
                cycle = stack[stack.index(target) :] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, [*stack, target])
        state[module] = 2

    for module in sorted(GRAPH):
        if module not in state:
            visit(module, [module])


def _string_literals(path: Path) -> list[str]:
    """String constants of a module, docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            doc = node.body[0] if node.body else None
            if isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant):
                docstrings.add(id(doc.value))
    return [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings
    ]


def test_no_words_for_readers_in_code():
    """The report's and the figures' words live in workflow/templates/*.yaml. (The
    synthetic data generator writes Dutch value labels: data, not words for readers.)"""
    dutch = ("werknemers", "meting", "betrouwbaarheid", "procentpunt", "klachten", "thuis")
    for name, path in MODULES.items():
        if name == "neacovid.data.synth":
            continue
        for literal in _string_literals(path):
            hits = [w for w in dutch if w in literal.lower()]
            assert not hits, f"{name} holds reader text {literal[:60]!r}"


def test_every_module_imports_without_posix_only_modules():
    """CBS Remote Access is Windows: no module may need fcntl, pwd, grp, resource or
    termios at import time."""
    code = (
        "import sys\n"
        "for name in ('fcntl', 'pwd', 'grp', 'resource', 'termios'):\n"
        "    sys.modules[name] = None  # import raises ImportError\n"
        "import importlib\n"
        f"for module in {sorted(m for m in MODULES if m != 'neacovid.__main__')!r}:\n"
        "    importlib.import_module(module)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]


def test_old_import_paths_warn_and_give_the_new_module():
    code = (
        "import warnings\n"
        "warnings.simplefilter('error')\n"
        "try:\n"
        "    import neacovid.estimate\n"
        "except DeprecationWarning as w:\n"
        "    print(w)\n"
        "warnings.simplefilter('ignore')\n"
        "import neacovid.estimate as old, neacovid.survey.estimate as new\n"
        "assert old is new and new.__spec__.name == 'neacovid.survey.estimate'\n"
        "from neacovid.pipeline import run_step\n"
        "from neacovid.workflow import run_step as step\n"
        "assert run_step is step\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "moved to neacovid.survey.estimate" in done.stdout
