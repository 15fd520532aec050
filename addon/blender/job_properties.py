"""Blender properties made from the job's options (``addon/common/job_options.py``): the import operator's own
options, and the add-on preferences that a job takes from them (hand model, device, MANO folder).

A choice becomes an enum, a number an int or float property with the option's range, a switch a boolean,
a list its text form (``x0,y0,side``). Nothing here names an option: renaming a field of ``JobOptions``
renames its property too.
"""
from __future__ import annotations

from typing import Any, Dict

from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty

from ..common.job_options import JobOptions, default_of, from_text, option_fields, spec_of, to_text


def _property(f) -> Any:
    s, default = spec_of(f), default_of(f)
    name = s.label or f.name.replace("_", " ").capitalize()
    description = s.help[0].upper() + s.help[1:]
    if s.choices:  # of the text form: a list's choices are whole lists
        items = [(c, *s.labels.get(c, (c, c))) for c in s.choices]
        return EnumProperty(name=name, description=description, items=items, default=to_text(f, default))
    if f.type == "bool":
        return BoolProperty(name=name, description=description, default=default)
    bounds = {k: v for k, v in (("min", s.low), ("max", s.high)) if v is not None}
    if f.type == "int":
        return IntProperty(name=name, description=description, default=default,
                           **{k: int(v) for k, v in bounds.items()})
    if f.type == "float":
        if s.high_open:  # a float property's max is inclusive
            bounds["max"] = bounds["max"] - 0.05
        return FloatProperty(name=name, description=description, default=default, **bounds)
    subtype = "DIR_PATH" if f.name.endswith("_dir") else "NONE"
    return StringProperty(name=name, description=description, default=to_text(f, default), subtype=subtype)


def properties(where: str) -> Dict[str, Any]:
    """Property definitions of every option Blender takes from ``where`` (``operator`` or ``preferences``)."""
    return {f.name: _property(f) for f in option_fields() if spec_of(f).ui == where}


def options_from(operator, preferences: Dict[str, Any]) -> JobOptions:
    """The operator's values, with the fields the preferences hold, as checked :class:`JobOptions`."""
    values = {}
    for f in option_fields():
        where = spec_of(f).ui
        if where == "operator":
            value = getattr(operator, f.name)
            values[f.name] = from_text(f, value) if isinstance(value, str) and f.type != "str" else value
        elif where == "preferences" and f.name in preferences:
            values[f.name] = preferences[f.name]
    return JobOptions(**values).check()
