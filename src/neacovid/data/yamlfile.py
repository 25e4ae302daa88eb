"""Reading YAML that a user wrote (the config, overlays, codebooks): safely.

A config file may come from anywhere, so it is read as data only: UTF-8 text,
no larger than `MAX_BYTES`, no anchors or aliases (an "alias bomb" of a few
lines expands to gigabytes), at most `MAX_DEPTH` levels of nesting, no key
twice in one mapping. Anything else is one `ConfigError` line naming the file.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml

from neacovid.errors import ConfigError, NeaCovidError

MAX_BYTES = 4 * 1024 * 1024
MAX_DEPTH = 40


class _Refused(yaml.YAMLError):
    pass


class _DataLoader(yaml.SafeLoader):
    """SafeLoader without anchors/aliases, with a nesting limit and unique keys."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise _Refused(
                f"line {event.start_mark.line + 1}: YAML aliases (*name) are not "
                "accepted; write the value out"
            )
        event = self.peek_event()
        if getattr(event, "anchor", None):
            raise _Refused(
                f"line {event.start_mark.line + 1}: YAML anchors (&name) are not "
                "accepted; write the value out"
            )
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise _Refused(
                f"line {event.start_mark.line + 1}: nested more than {MAX_DEPTH} levels deep"
            )
        try:
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    unique_keys = True

    def construct_mapping(self, node, deep=False):
        if not self.unique_keys:
            return super().construct_mapping(node, deep=deep)
        seen = set()
        for key_node, _ in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else id(key_node)
            if key in seen:
                raise _Refused(
                    f"line {key_node.start_mark.line + 1}: key {key!r} appears twice in one mapping"
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _AnyKeysLoader(_DataLoader):
    unique_keys = False


def read_yaml(
    path: str | os.PathLike,
    what: str = "config file",
    error: type[NeaCovidError] = ConfigError,
    unique_keys: bool = True,
):
    """The data of a YAML file, or ``error`` (one line) for anything unsafe or broken.
    ``unique_keys=False`` leaves duplicate keys to a caller with a better message."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{what} {path} does not exist; check the path")
    size = path.stat().st_size
    if size > MAX_BYTES:
        raise error(
            f"{path}: {size:,} bytes is too large for a {what} "
            f"(at most {MAX_BYTES:,}); is it the right file?"
        )
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise error(
            f"{path}: not UTF-8 text (byte {err.start}); save the {what} as UTF-8"
        ) from None
    if "\x00" in text:
        raise error(f"{path}: holds NUL bytes, so it is not a text file; give a YAML {what}")
    try:
        loader = _DataLoader if unique_keys else _AnyKeysLoader
        return yaml.load(text, Loader=loader)  # noqa: S506 (a SafeLoader subclass)
    except RecursionError:
        raise error(f"{path}: nested too deeply; a {what} needs a few levels") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        detail = str(err) if isinstance(err, _Refused) else "fix the syntax"
        raise error(f"{path}{where}: not valid YAML for a {what}: {detail}") from None
