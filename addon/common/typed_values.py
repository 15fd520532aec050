"""Dataclasses filled from outside data (a protocol line, a checkpoint's config, a TOML file): every value checked
against its field's annotation before the dataclass sees it, so a wrong type is refused by name at the border
instead of failing somewhere inside.

Annotations are read as written (``from __future__ import annotations`` keeps them as text): ``int``, ``float``,
``bool``, ``str``, ``Optional[X]``, ``List[X]``, ``Tuple[X, ...]``, ``tuple``, ``Dict[str, X]``, ``A | B`` and ``Any``. A
float must be finite; an int is accepted where a float is asked for; a bool is never a number.
"""
from __future__ import annotations

import math
import re
from dataclasses import fields
from typing import Any, Type, TypeVar

T = TypeVar("T")

MAX_ITEMS = 100_000  # a list or dict longer than any the formats hold


def has_type(value: Any, kind: str) -> bool:
    """Whether ``value`` fits the annotation ``kind`` (as text)."""
    kind = kind.replace("typing.", "").strip()
    if "|" in kind and "[" not in kind.split("|")[0]:  # a union: any of its members
        return any(has_type(value, k) for k in kind.split("|"))
    if kind in ("Any", "object"):
        return True
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind == "str":
        return isinstance(value, str)
    if kind == "tuple":
        return isinstance(value, (list, tuple)) and len(value) <= MAX_ITEMS and \
            all(has_type(v, "int") or has_type(v, "float") or has_type(v, "str") for v in value)
    match = re.fullmatch(r"(\w+)\[(.*)\]", kind)
    if not match:
        return False
    outer, inner = match.groups()
    if outer == "Optional":
        return value is None or has_type(value, inner)
    if outer in ("List", "list", "Tuple", "tuple", "Sequence"):
        item = inner.removesuffix(", ...").strip()
        return isinstance(value, (list, tuple)) and len(value) <= MAX_ITEMS and all(has_type(v, item) for v in value)
    if outer in ("Dict", "dict"):
        key, _, item = inner.partition(",")
        return isinstance(value, dict) and len(value) <= MAX_ITEMS and \
            all(has_type(k, key.strip()) and has_type(v, item.strip()) for k, v in value.items())
    return False


def type_name(kind: str) -> str:
    """The annotation in words, for a message."""
    words = {"bool": "true or false", "int": "a whole number", "float": "a finite number", "str": "text",
             "List[str]": "a list of names", "List[float]": "a list of numbers", "List[int]": "a list of whole numbers"}
    return words.get(kind, kind)


def checked_dataclass(cls: Type[T], values: Any, where: str, error: Type[Exception]) -> T:
    """``cls(**values)`` once ``values`` is a dict of ``cls``'s own fields, each of its annotated type; otherwise
    ``error`` naming the first problem. Fields left out take their defaults (a missing required one is named)."""
    if not isinstance(values, dict):
        raise error(f"{where}: must be a table of named values, not {type(values).__name__}")
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(str(k) for k in set(values) - set(known))
    if unknown:
        raise error(f"{where}: unknown key(s) {', '.join(unknown)[:200]}; known: {', '.join(sorted(known))}")
    for name, value in values.items():
        kind = known[name].type if isinstance(known[name].type, str) else getattr(known[name].type, "__name__", "")
        if not has_type(value, kind):
            raise error(f"{where}: {name} must be {type_name(kind)}, not {value!r}"[:300])
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:  # a missing required field, or the dataclass's own check
        raise error(f"{where}: {exc}") from None
