"""Reading the YAML and JSON files users write, safely: one loader for all of them.

Stack files, services' configuration files, migration manifests, evidence records, decision
records and approvals are read through `load_yaml` / `load_json` (or `parse_yaml` /
`parse_json` for text already in hand). A document is refused with a `StackFileError`
(exit 2) naming the file, the key and what is allowed, before anything uses it, when it:

- is larger than `MAX_BYTES` (the size is checked with `fstat`, then at most one byte more
  is read: a 10 MB file is never read whole);
- is not UTF-8 (the offset of the first bad byte is named);
- uses a YAML alias (`*name`): none of the project's files needs one, and aliases are how a
  1 KB "billion laughs" file expands into gigabytes;
- nests deeper than `MAX_DEPTH` (a deep file would otherwise end in a RecursionError);
- repeats a key in one mapping (YAML and JSON both keep the last one silently: `minRequests:
  5` then `minRequests: 500000` would pass review yet run with the second); both line numbers
  are named for YAML;
- (JSON) holds NaN or Infinity, which are not JSON.

The checks walk libyaml's event stream (PyYAML's C parser when present), so a refusal costs
one linear pass and never builds the document; a document that passes is then built by
`yaml.CSafeLoader`/`yaml.SafeLoader` as before.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stackspec.errors import BadInput

MAX_BYTES = 1_000_000
MAX_DEPTH = 64
_SHOWN = 80  # characters of a value a message shows at most
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a file: where (`key`), what was found and what is allowed."""

    key: str
    value: str
    allowed: str

    def __str__(self) -> str:
        return f"{self.key}: got {self.value}; {self.allowed}"


class StackFileError(BadInput):
    """A file of the stack that cannot be used: the stack file, or a file read with it (a
    subclass or the `kind` argument says which, e.g. the policy pack config). Carries the
    file and every problem found in it; exit 2 wherever it is reported (the CLI, `make
    validate`, scripts/deploy)."""

    kind = "stack file"

    def __init__(self, path: Path | str, problems: list[Problem], kind: str | None = None) -> None:
        self.path = str(path)
        self.problems = problems
        if kind is not None:
            self.kind = kind
        super().__init__(problems_message(path, self.kind, problems))


def problems_message(path: Path | str, kind: str, problems: list[Problem]) -> str:
    """`<path>: invalid <kind>`, then one line per problem: how every bad file is reported."""
    lines = "".join(f"\n  - {p}" for p in problems)
    return f"{path}: invalid {kind}{lines}"


def shorten(text: str, limit: int = _SHOWN) -> str:
    """`text` cut to `limit` characters, saying how long it was: never echo a 5 KB value."""
    if len(text) <= limit:
        return text
    return f"{text[: limit - 20]}... ({len(text)} characters)"


def read_text(path: Path | str, kind: str, max_bytes: int = MAX_BYTES) -> str:
    """The UTF-8 text of `path`, refused (StackFileError) if larger than `max_bytes` or not
    UTF-8. FileNotFoundError is left to the caller, which knows what to list instead."""
    try:
        with open(path, "rb") as file:
            size = os.fstat(file.fileno()).st_size
            data = b"" if size > max_bytes else file.read(max_bytes + 1)
    except FileNotFoundError:
        raise
    except OSError as err:
        problem = Problem("(file)", "unreadable", err.strerror or str(err))
        raise StackFileError(path, [problem], kind) from None
    if size > max_bytes or len(data) > max_bytes:
        shown = f"{max(size, len(data))} bytes"
        raise _refused(path, kind, "(file)", shown, f"allowed: at most {max_bytes} bytes")
    return decode(data, path, kind)


def decode(data: bytes, path: Path | str, kind: str) -> str:
    """`data` as UTF-8; StackFileError naming the offset of the first byte that is not."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        found = f"not UTF-8: byte 0x{data[err.start]:02x} at offset {err.start}"
        raise _refused(path, kind, "(encoding)", found, "allowed: UTF-8 text") from None


def load_yaml(path: Path | str, kind: str, max_bytes: int = MAX_BYTES) -> Any:
    """The YAML document in `path`, read and checked as the module docstring says."""
    return parse_yaml(read_text(path, kind, max_bytes), path, kind)


def load_json(path: Path | str, kind: str, max_bytes: int = MAX_BYTES) -> Any:
    """The JSON document in `path`, read and checked as the module docstring says."""
    return parse_json(read_text(path, kind, max_bytes), path, kind)


def parse_yaml(text: str, path: Path | str, kind: str) -> Any:
    """The YAML document `text` (read from `path`); StackFileError if refused."""
    _check_size(text, path, kind)
    try:
        _check_events(text, path, kind)
        return yaml.load(text, Loader=_Loader)  # a safe loader
    except yaml.YAMLError as err:
        problem = Problem("(yaml)", "unparsable (not valid YAML)", shorten(str(err), 400))
        raise StackFileError(path, [problem], kind) from None


def parse_json(text: str, path: Path | str, kind: str) -> Any:
    """The JSON document `text` (read from `path`); StackFileError if refused."""
    _check_size(text, path, kind)

    def refuse(key: str, value: str, allowed: str) -> StackFileError:
        return StackFileError(path, [Problem(key, value, allowed)], kind)

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: dict[str, Any] = {}
        for key, value in items:
            if key in seen:
                raise refuse(shorten(key), "the key twice in one object", "allowed: each key once")
            seen[key] = value
        return seen

    def constant(name: str) -> Any:
        raise refuse("(json)", name, "allowed: finite numbers (NaN and Infinity are not JSON)")

    try:
        return json.loads(text, object_pairs_hook=pairs, parse_constant=constant)
    except RecursionError:
        raise refuse("(json)", "nested too deep", f"allowed: at most {MAX_DEPTH} levels") from None
    except ValueError as err:
        raise refuse("(json)", "unparsable", shorten(str(err), 200)) from None


def _check_size(text: str, path: Path | str, kind: str) -> None:
    if len(text) > MAX_BYTES:
        found = f"{len(text)} characters"
        raise _refused(path, kind, "(file)", found, f"allowed: at most {MAX_BYTES} bytes")


def _refused(path: Path | str, kind: str, key: str, value: str, allowed: str) -> StackFileError:
    return StackFileError(path, [Problem(key, value, allowed)], kind)


@dataclass
class _Frame:
    """A mapping or sequence being walked: how many nodes it has had, the current key."""

    mapping: bool
    count: int = 0
    key: str = "?"
    seen: dict[str, int] = field(default_factory=dict)  # key -> line (mappings only)

    def step(self) -> str:
        return f".{self.key}" if self.mapping else f"[{self.count - 1}]"


def _check_events(text: str, path: Path | str, kind: str) -> None:
    """One pass over the parser's events: aliases, depth and duplicate keys refused."""
    frames: list[_Frame] = []
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.CollectionEndEvent):
            frames.pop()
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue
        line = event.start_mark.line + 1 if event.start_mark else 0
        if frames:
            _place(frames[-1], event, line, frames, path, kind)
        if isinstance(event, yaml.AliasEvent):
            found = f"alias *{shorten(str(event.anchor), 40)} at line {line}"
            allowed = "allowed: no YAML aliases; write the value out"
            raise StackFileError(path, [Problem(_where(frames), found, allowed)], kind)
        if isinstance(event, yaml.CollectionStartEvent):
            frames.append(_Frame(mapping=isinstance(event, yaml.MappingStartEvent)))
            if len(frames) > MAX_DEPTH:
                found = f"nesting deeper than {MAX_DEPTH} levels at line {line}"
                problem = Problem(_where(frames[:-1]), found, "allowed: a shallower document")
                raise StackFileError(path, [problem], kind)


def _place(
    parent: _Frame,
    event: yaml.NodeEvent,
    line: int,
    frames: list[_Frame],
    path: Path | str,
    kind: str,
) -> None:
    """Count `event` as the next node of `parent`; a mapping key seen twice is refused."""
    parent.count += 1
    if not parent.mapping or parent.count % 2 == 0:
        return  # a list item, or a mapping's value
    key = shorten(str(event.value), 60) if isinstance(event, yaml.ScalarEvent) else "?"
    parent.key = key
    if isinstance(event, yaml.ScalarEvent) and key in parent.seen:
        found = f"the key twice, at line {parent.seen[key]} and line {line}"
        allowed = "allowed: each key once in a mapping (the last one would win silently)"
        raise StackFileError(path, [Problem(_where(frames), found, allowed)], kind)
    parent.seen[key] = line


def _where(frames: list[_Frame]) -> str:
    """The key path of the node being read: `config.trading-platform:services[0].port`."""
    return "".join(frame.step() for frame in frames).lstrip(".") or "(top)"
