"""The job's options are defined once (``JobOptions``): the command line, the worker protocol and Blender's
operator and preferences are made from it, so a value set on one side arrives on the other under the same
name, and a field renamed on one side only fails here."""
from __future__ import annotations

from dataclasses import fields

import pytest

from addon.common import protocol as P
from addon.common.job_options import (
    JobOptionError,
    JobOptions,
    OneLineParser,
    add_job_arguments,
    default_of,
    option_fields,
    option_flags,
    options_from_args,
    spec_of,
)


def unusual() -> JobOptions:
    """Every option away from its default, all of it still valid."""
    return JobOptions(model="amvur", hands=["left"], frame_start=3, frame_end=40, first_blender_frame=7, fov_deg=70.5,
                      smoothing=0.25, fill_gaps=4, skin="network", refine="off", keypoint_source="mediapipe",
                      mano_dir="/mano", hand_model="makehuman", device="cuda:1", checkpoint="/c.pt", exposure=0.25,
                      region=[1.0, 2.0, 30.0], search=False, search_scales=[0.3, 0.4], refine_strength=2.0,
                      fit_window=24, window=6, window_stride=3)


def test_every_option_differs_in_the_unusual_set():
    odd, plain = unusual(), JobOptions()
    assert [f.name for f in fields(JobOptions) if getattr(odd, f.name) == getattr(plain, f.name)] == []
    odd.check()


def parse(argv):
    ap = OneLineParser(prog="t")
    add_job_arguments(ap)
    return options_from_args(ap.parse_args(argv))


def test_every_option_round_trips_through_its_command_line_flag():
    assert parse([]) == JobOptions()
    assert parse(option_flags(unusual())) == unusual()
    flags = [spec_of(f).flag for f in option_fields()]
    assert len(set(flags)) == len(flags) and all(flag.startswith("--") for flag in flags)


def test_every_option_round_trips_through_the_worker_protocol():
    start = P.Start(job_id="j", video="/v.mp4", job_dir="/tmp/j", options=unusual())
    assert P.decode(P.encode(start)).options == unusual()


def test_advanced_options_are_accepted_but_listed_only_by_help_advanced(capsys):
    ap = OneLineParser(prog="t")
    add_job_arguments(ap)
    ap.print_help()
    short = capsys.readouterr().out
    with pytest.raises(SystemExit):
        ap.parse_args(["--help-advanced"])
    full = capsys.readouterr().out
    for f in option_fields():
        s = spec_of(f)
        assert s.flag in full
        assert (s.flag in short) != s.advanced, s.flag
    assert parse(["--fit-window", "24"]).fit_window == 24


def test_bad_values_are_named_by_their_flag_all_at_once():
    with pytest.raises(JobOptionError) as err:
        JobOptions(frame_start=-1, fov_deg=500.0, model="nope", hands=["up"]).check()
    for flag in ("--start", "--fov", "--model", "--hands"):
        assert flag in str(err.value)
    with pytest.raises(JobOptionError, match="--region must be numbers"):
        parse(["--region", "a,b,c"])


def test_blenders_properties_are_the_options(addon_registered):
    """The operator has a property per operator option, the preferences one per preference option, with the
    same defaults; and an operator set to unusual values gives exactly those options."""
    import bpy

    from addon.blender.job_properties import options_from
    from addon.blender.preferences import HandMocapPreferences
    from addon.blender.video_operator import HANDMOCAP_OT_import_video

    operator_props = HANDMOCAP_OT_import_video.__annotations__
    preference_props = HandMocapPreferences.__annotations__
    for f in option_fields():
        where = spec_of(f).ui
        assert (f.name in operator_props) == (where == "operator"), f.name
        assert (f.name in preference_props) == (where == "preferences"), f.name

    class Stand:  # the operator's values as Blender stores them (lists in their text form)
        pass

    odd = unusual()
    op = Stand()
    from addon.common.job_options import to_text
    for f in option_fields():
        if spec_of(f).ui == "operator":
            value = getattr(odd, f.name)
            setattr(op, f.name, to_text(f, value) if f.type.startswith("List") else value)
    prefs = {f.name: getattr(odd, f.name) for f in option_fields() if spec_of(f).ui == "preferences"}
    cli_only = {f.name: default_of(f) for f in option_fields() if not spec_of(f).ui}
    got = options_from(op, prefs)
    assert got == JobOptions(**{**odd.to_dict(), **cli_only})
    # and the registered operator's own defaults are the options' defaults
    defaults = bpy.ops.hand_mocap.import_video.get_rna_type().properties
    for f in option_fields():
        if spec_of(f).ui == "operator":
            default = defaults[f.name].default
            want = to_text(f, default_of(f)) if f.type.startswith("List") else default_of(f)
            assert default == pytest.approx(want) if f.type == "float" else default == want, f.name
