"""Old import paths of 0.1 (``neacovid.estimate``, ...) for one more release.

0.2 put the modules in subpackages that show the layers (``survey``, ``data``,
``publish``); ``neacovid.pipeline`` became ``neacovid.workflow``. Importing an
old path still works, gives the new module and warns once. Remove in 0.3.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys
import warnings

MOVED = {
    **{
        m: f"neacovid.survey.{m}"
        for m in ("design", "taylor", "ci", "estimate", "compare", "models", "panel")
    },
    **{
        m: f"neacovid.data.{m}"
        for m in ("io", "config", "codebook", "harmonize", "indicators", "synth")
    },
    **{
        m: f"neacovid.publish.{m}"
        for m in (
            "tables",
            "disclosure",
            "keyfigures",
            "figures",
            "report",
            "notebooks",
            "provenance",
        )
    },
    "pipeline": "neacovid.workflow",
}


class _Alias(importlib.abc.Loader):
    def __init__(self, target: str):
        self.target = target

    def create_module(self, spec):
        module = importlib.import_module(self.target)
        self.original = {k: getattr(module, k) for k in ("__spec__", "__loader__")}
        return module

    def exec_module(self, module) -> None:
        # The import system stamps the alias's spec on the module: give it back its own.
        for key, value in self.original.items():
            setattr(module, key, value)


class _MovedFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path=None, target=None):
        package, _, name = fullname.rpartition(".")
        if package != "neacovid" or name not in MOVED:
            return None
        new = MOVED[name]
        warnings.warn(
            f"{fullname} moved to {new} in neacovid 0.2; the old path goes in 0.3",
            DeprecationWarning,
            stacklevel=2,
        )
        return importlib.util.spec_from_loader(fullname, _Alias(new))


def install() -> None:
    if not any(isinstance(f, _MovedFinder) for f in sys.meta_path):
        sys.meta_path.append(_MovedFinder())
