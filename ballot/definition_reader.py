"""The one reader of election definition texts (ADR 0006, "Definitions, platforms, CLI";
``docs/ballot-api.md``, DEFINITION): staff pages, ``parvis election create|update`` and the
staff and platform JSON APIs all turn bytes into a definition object here, with the same
limits, so that no path answers a crafted file with a crash (a 500 page, a traceback).

Pure core. What it refuses, and why:

- more than :data:`MAX_DEFINITION_BYTES` bytes (a ballot of 50 questions of 100 options
  fits), text that is not UTF-8, an empty text;
- nesting deeper than :data:`MAX_DEPTH` (a definition is 7 levels deep at most: definition,
  questions, question, options, option, title); Python's YAML composer and ``json`` recurse
  per level and would fail with ``RecursionError`` long before any rule is checked;
- more than :data:`MAX_NODES` values;
- YAML anchors and aliases (``&a`` / ``*a``): a definition never needs them, and refusing
  them rules out "billion laughs" expansion;
- explicit YAML tags (``!!python/object``, ``!custom``, even ``!!str``): ``yaml.safe_load``
  already refuses the dangerous ones, this refuses them all so the reading of a file never
  depends on a tag;
- duplicate keys (YAML and JSON readers silently keep the last one, so the officer would not
  see what they wrote twice), keys that are not plain texts;
- in JSON: ``NaN``/``Infinity`` (not JSON, RFC 8259 §6).

The limits are checked on the YAML *event* stream (``yaml.parse``), which PyYAML produces
with an explicit state stack rather than recursion; only a text that passes is composed
into objects by ``yaml.safe_load``. JSON gets the same depth check on its brackets before
``json.loads``. YAML is read as YAML 1.1 (PyYAML), a superset of the JSON a file may hold.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import yaml

from ballot.errors import InvalidElectionError

__all__ = [
    "MAX_DEFINITION_BYTES",
    "MAX_DEPTH",
    "MAX_NODES",
    "UnreadableDefinitionError",
    "read_definition",
]

#: Largest definition text accepted anywhere: a ballot of 50 questions of 100 options fits.
MAX_DEFINITION_BYTES: Final = 262_144
#: Deepest nesting of lists and objects (a definition needs 7; room for later members).
MAX_DEPTH: Final = 16
#: Most values (scalars, lists, objects) in one definition.
MAX_NODES: Final = 100_000

Syntax = Literal["yaml", "json"]

#: libyaml's parser when PyYAML was built with it (much faster; the same events, and its
#: parser keeps an explicit state stack too), else PyYAML's own.
_LOADER: Final[Any] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class UnreadableDefinitionError(InvalidElectionError):
    """The text is not a definition that can be read safely: too large, not UTF-8, empty,
    not YAML or JSON, too deeply nested, or using a YAML feature definitions do not use.
    An :class:`InvalidElectionError` (``invalid-election``, 422) with no ``field``."""

    title = "Unreadable election definition"


def _refuse(message: str, **params: object) -> UnreadableDefinitionError:
    return UnreadableDefinitionError(
        message % params if params else message, message=message, params=params
    )


def _where(mark: Any) -> dict[str, object]:
    return {"line": mark.line + 1, "column": mark.column + 1}


@dataclass(slots=True)
class _Frame:
    mapping: bool
    keys: set[str] = field(default_factory=set)
    expect_key: bool = True


def _check_yaml_events(text: str) -> None:  # noqa: PLR0912 - one branch per event kind, kept in one walk
    """Walk the event stream once: depth, size, anchors, aliases, tags, duplicate keys."""
    stack: list[_Frame] = []
    nodes = 0
    documents = 0
    for event in yaml.parse(text, Loader=_LOADER):
        if isinstance(event, yaml.DocumentStartEvent):
            documents += 1
            if documents > 1:
                raise _refuse("one YAML document only (line %(line)s)", **_where(event.start_mark))
            continue
        if isinstance(event, yaml.AliasEvent):
            raise _refuse(
                "aliases (*name) are not accepted (line %(line)s, column %(column)s)",
                **_where(event.start_mark),
            )
        if isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            stack.pop()
            if stack and stack[-1].mapping:
                stack[-1].expect_key = True
            continue
        if not isinstance(event, yaml.NodeEvent):
            continue
        nodes += 1
        if nodes > MAX_NODES:
            raise _refuse("more than %(max)s values", max=MAX_NODES)
        if event.anchor is not None:
            raise _refuse(
                "anchors (&name) are not accepted (line %(line)s, column %(column)s)",
                **_where(event.start_mark),
            )
        # The parser sets a tag only when one is written (scalars and collections have one).
        if getattr(event, "tag", None) is not None:
            raise _refuse(
                "YAML tags (!name) are not accepted (line %(line)s, column %(column)s)",
                **_where(event.start_mark),
            )
        parent = stack[-1] if stack else None
        if parent is not None and parent.mapping:
            if parent.expect_key:
                if not isinstance(event, yaml.ScalarEvent):
                    raise _refuse(
                        "keys are plain texts (line %(line)s, column %(column)s)",
                        **_where(event.start_mark),
                    )
                if event.value in parent.keys:
                    raise _refuse(
                        "the key %(key)s appears twice (line %(line)s, column %(column)s)",
                        key=repr(event.value[:40]),
                        **_where(event.start_mark),
                    )
                parent.keys.add(event.value)
                parent.expect_key = False
                continue
            parent.expect_key = True
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            if len(stack) >= MAX_DEPTH:
                raise _refuse(
                    "nested more than %(max)s levels deep (line %(line)s, column %(column)s)",
                    max=MAX_DEPTH,
                    **_where(event.start_mark),
                )
            stack.append(_Frame(mapping=isinstance(event, yaml.MappingStartEvent)))
            # The frame's own opening is not a value of the new frame.
            if stack[-1].mapping:
                stack[-1].expect_key = True


def _read_yaml(text: str) -> object:
    try:
        _check_yaml_events(text)
        return yaml.load(text, Loader=_LOADER)  # noqa: S506 - a safe loader, checked above
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = " ".join(str(getattr(exc, "problem", None) or "syntax error").split())
        if mark is not None and "nesting depth" in problem:
            # libyaml reads a flow collection's brackets ahead of its events and stops at its
            # own limit (1000) before this reader's: the same refusal, said the same way.
            raise _refuse(
                "nested more than %(max)s levels deep (line %(line)s, column %(column)s)",
                max=MAX_DEPTH,
                **_where(mark),
            ) from None
        if mark is not None:
            raise _refuse(
                "neither YAML nor JSON (line %(line)s, column %(column)s): %(problem)s",
                problem=problem,
                **_where(mark),
            ) from None
        raise _refuse("neither YAML nor JSON: %(problem)s", problem=problem) from None


def _check_json_depth(text: str) -> None:
    depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                raise _refuse("nested more than %(max)s levels deep", max=MAX_DEPTH)
        elif char in "]}":
            depth -= 1


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _refuse("the key %(key)s appears twice", key=repr(key[:40]))
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise _refuse("%(name)s is not a JSON number", name=name)


def _read_json(text: str) -> object:
    _check_json_depth(text)
    nodes = text.count("{") + text.count("[") + text.count(",")
    if nodes > MAX_NODES:
        raise _refuse("more than %(max)s values", max=MAX_NODES)
    try:
        return json.loads(text, object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise _refuse(
            "not JSON (line %(line)s, column %(column)s): %(problem)s",
            line=exc.lineno,
            column=exc.colno,
            problem=exc.msg,
        ) from None


def read_definition(raw: bytes, *, syntax: Syntax = "yaml") -> object:
    """The object a definition text holds, or :class:`UnreadableDefinitionError`.

    ``syntax="yaml"`` (files, pages, CLI) reads YAML or JSON; ``syntax="json"`` (the JSON
    APIs) reads JSON only. The result is still to be checked by
    :func:`ballot.definition.parse_definition`.
    """
    if len(raw) > MAX_DEFINITION_BYTES:
        raise _refuse("the definition is larger than %(max)s bytes", max=MAX_DEFINITION_BYTES)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse("the definition is not UTF-8 text") from None
    text = text.removeprefix("\ufeff")  # a byte order mark some editors write
    if not text.strip():
        raise _refuse("the definition is empty")
    if syntax == "json":
        return _read_json(text)
    return _read_yaml(text)
