"""The options of a video job, defined once: :class:`JobOptions`, whose fields carry their help, command-line
flag, choices and range as metadata.

Everything else is made from it: the command-line flags of ``python -m inference run``, the batch script and
the demo (:func:`add_job_arguments`, :func:`options_from_args`), the one check of the values used by every
entry point and by the worker (:meth:`JobOptions.check`), the worker protocol's ``start`` message
(``protocol.Start`` carries a ``JobOptions``) and the Blender operator's properties
(``addon/blender/job_properties.py``). Pure Python: the add-on and the worker both import it.
"""
from __future__ import annotations

import argparse
import re
import tempfile
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Dict, List, NoReturn, Optional, Sequence, Tuple

from .models import MODEL_LABELS, MODEL_NAMES, TEXTURE_MODELS
from .typed_values import has_type, type_name

HANDS = ("right", "left")
SEARCH_SCALES = (0.2, 0.3, 0.5, 0.75)  # crop search tiles, as fractions of the frame's shorter side
MAX_WINDOW = 32  # Deformer's temporal embedding covers this many frames
MIN_FIT_WINDOW, MAX_FIT_WINDOW = 12, 1024  # the fitting stage's windows: enough frames to smooth, memory to spare


class JobOptionError(ValueError):
    """A job option with a value no job can use; the message names the option as on the command line."""


@dataclass(frozen=True)
class Spec:
    """How one option is shown and checked.

    ``choices`` are the allowed values (of the text form, for a list); ``labels`` name them in Blender
    (value -> (name, description)). ``low`` / ``high`` bound a number (inclusive unless ``*_open``).
    ``ui``: where Blender takes the value from: the import operator, the add-on preferences, or nowhere (the
    command line only). ``advanced`` options are listed by ``--help-advanced`` only."""

    help: str
    flag: str
    label: str = ""
    choices: Tuple[str, ...] = ()
    labels: Dict[str, Tuple[str, str]] = field(default_factory=dict)
    low: Optional[float] = None
    high: Optional[float] = None
    low_open: bool = False
    high_open: bool = False
    ui: str = "operator"  # "operator" | "preferences" | ""
    advanced: bool = False
    problem: str = ""  # the message's reason, after "--flag must be ..."
    pattern: str = ""  # a regular expression the whole value must match (``choices`` then only name the common ones)


def option(default: Any, help: str, flag: str, **spec: Any) -> Any:
    """A field of :class:`JobOptions` with its :class:`Spec`."""
    meta = {"spec": Spec(help=help, flag=flag, **spec)}
    if isinstance(default, (list, tuple)):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class JobOptions:
    """Every option of a job on footage. Defaults are what a user gets without saying anything."""

    model: str = option("blurhandnet", "the network that estimates the hand", "--model", label="Model",
                        choices=MODEL_NAMES, labels={m: (m, MODEL_LABELS[m]) for m in MODEL_NAMES})
    hands: List[str] = option(["right", "left"], "right,left: every hand found, one rig each (default); right / "
                              "left: the footage shows one hand of that side", "--hands", label="Hands",
                              choices=("right,left", "right", "left"),
                              labels={"right,left": ("Right and left", "Every hand found, one rig each"),
                                      "right": ("Right only", "One right hand (the best detection of each frame)"),
                                      "left": ("Left only", "One left hand (the best detection of each frame)")})
    frame_start: int = option(0, "first footage frame (0-based)", "--start", label="First frame", low=0,
                              problem="0 or more (footage frames count from 0)")
    frame_end: int = option(-1, "last footage frame, inclusive (-1: the end)", "--end", label="Last frame", low=-1,
                            problem="a footage frame or -1 (the last frame)")
    first_blender_frame: int = option(1, "the Blender frame of the footage's first frame", "--first-frame",
                                      label="Start at frame", advanced=True)
    fov_deg: float = option(60.0, "horizontal field of view of the footage, degrees (sets the hand's distance)",
                            "--fov", label="Field of view", low=1.0, high=179.0,
                            problem="a horizontal field of view between 1 and 179 degrees")
    smoothing: float = option(0.0, "jitter filter strength, 0 (off) .. 1", "--smoothing", label="Smoothing",
                              low=0.0, high=1.0, problem="between 0 and 1")
    fill_gaps: int = option(0, "interpolate across up to N frames without a hand (0: leave them unkeyed)",
                            "--fill-gaps", label="Fill gaps (frames)", low=0, problem="0 or more frames")
    skin: str = option("procedural", "the rig's skin: procedural (the hand model's own), footage (the hand's colours "
                       f"taken from the footage) or network (the colours {' or '.join(TEXTURE_MODELS)} predict)",
                       "--skin", label="Skin", choices=("procedural", "footage", "network"),
                       labels={"procedural": ("Procedural", "The hand model's own skin texture"),
                               "footage": ("From the footage", "The hand's colours taken from the footage: per "
                                           "vertex, the median over the frames that see it"),
                               "network": ("From the network", "The colours the model itself predicts (S2HAND(V), "
                                           "AMVUR), aggregated over the frames where it saw each vertex")})
    refine: str = option("keypoints", "keypoints (default): fit the hand to the keypoints over time; off: the "
                         "network's raw output", "--refine", label="Refine", choices=("keypoints", "off"),
                         labels={"keypoints": ("Fit to keypoints", "Fit the hand to the 2D keypoints over time (the "
                                               "network's estimate as a prior): hands that match the footage"),
                                 "off": ("Off", "The network's raw output")})
    keypoint_source: str = option("auto", "the keypoints the fit follows: auto (default: MediaPipe's where its "
                                  "handedness labels agree with the hand's side, else the keypoint network's), network "
                                  "or mediapipe",
                                  "--keypoints", label="Keypoints from", choices=("auto", "network", "mediapipe"),
                                  labels={"auto": ("Automatic", "MediaPipe's where it is sure of the hand's side, else the "
                                                   "keypoint network's"),
                                          "network": ("Keypoint network", "The project's keypoint network reads "
                                                      "each crop; the fit follows its points"),
                                          "mediapipe": ("MediaPipe", "MediaPipe's landmarks")})
    mano_dir: str = option("", "folder with official MANO files MANO_RIGHT.pkl / MANO_LEFT.pkl (registration at "
                           "mano.is.tue.mpg.de); empty: a built-in hand", "--mano", label="Official MANO folder",
                           ui="preferences")
    hand_model: str = option("open", "the built-in hand when --mano is not given", "--hand-model",
                             label="Built-in hand", choices=("open", "makehuman"), ui="preferences",
                             labels={"open": ("Open hand", "The procedurally built open hand (the default "
                                              "checkpoint was trained on it)"),
                                     "makehuman": ("MakeHuman hand", "MakeHuman's sculpted CC0 hand, registered "
                                                   "onto MANO's format")})
    device: str = option("auto", "auto, cpu, cuda or cuda:N", "--device", label="Device", ui="preferences",
                         choices=("auto", "cpu", "cuda"), pattern=r"auto|cpu|cuda(:\d+)?",
                         problem="auto, cpu, cuda or cuda:N",
                         labels={"auto": ("Automatic", "A CUDA GPU when the worker sees one, else the CPU"),
                                 "cpu": ("CPU", "Always the CPU"),
                                 "cuda": ("CUDA GPU", "The first CUDA GPU (fails without one)")})
    checkpoint: str = option("", "a trained checkpoint of --model (default: the model's shipped one)",
                             "--checkpoint", ui="", advanced=True)
    exposure: float = option(0.5, "shutter time in frames: BlurHandNet's end hands are keyed at frame -/+ "
                             "exposure/2", "--exposure", label="Exposure (frames)", low=0.0, high=1.0,
                             high_open=True, advanced=True,
                             problem="in [0, 1) frames (a shutter cannot stay open longer than a frame)")
    region: List[float] = option([], "x0,y0,side: a fixed square hand region in pixels instead of detection",
                                 "--region", label="Fixed region", advanced=True)
    search: bool = option(True, "on (default): look for hands the palm detector missed, around lost hands and "
                          "in tiles", "--search", label="Search for missed hands", advanced=True)
    search_scales: List[float] = option(list(SEARCH_SCALES), "tile sides of the search, as fractions of the "
                                        "frame's shorter side", "--search-scales", ui="", advanced=True)
    refine_strength: float = option(1.0, "how strongly the keypoints pull against the network and the hand "
                                     "priors (1 = default)", "--refine-strength", label="Fit strength", low=0.0,
                                     high=4.0, low_open=True, advanced=True, problem="more than 0 and at most 4")
    fit_window: int = option(0, f"footage frames per window of the fitting stage ({MIN_FIT_WINDOW}-"
                             f"{MAX_FIT_WINDOW}; 0: 128): shorter windows send their first keys sooner",
                             "--fit-window", label="Fit window (frames)", low=0, high=MAX_FIT_WINDOW,
                             advanced=True)
    window: int = option(0, "deformer: frames per sliding window (0: the checkpoint's own)", "--window",
                         label="Window (frames)", low=0, high=MAX_WINDOW, advanced=True,
                         problem=f"0 (the checkpoint's own) or 1 to {MAX_WINDOW} frames")
    window_stride: int = option(0, "deformer: frames between window starts, overlaps blended (0: the checkpoint's "
                                "own)", "--window-stride", label="Window stride", low=0, high=MAX_WINDOW,
                                advanced=True)

    def check(self) -> "JobOptions":
        """Every problem with the values at once, as one :class:`JobOptionError`; returns self."""
        problems = [p for f in fields(self) if (p := _field_problem(f, getattr(self, f.name)))]
        problems += _joint_problems(self)
        if problems:
            raise JobOptionError("; ".join(problems))
        return self

    def to_dict(self) -> Dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Dict[str, Any]) -> "JobOptions":
        """Checked options from plain values (a protocol message): unknown names and wrong types are errors."""
        if not isinstance(values, dict):
            raise JobOptionError("job options must be an object of named values")
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise JobOptionError(f"unknown job option(s) {', '.join(unknown)}")
        for name, value in values.items():
            if not has_type(value, known[name].type):
                raise JobOptionError(f"{spec_of(known[name]).flag} must be {type_name(known[name].type)}, "
                                     f"not {value!r}"[:200])
        floats = {name for name, f in known.items() if f.type == "float"}
        return cls(**{k: float(v) if k in floats else v for k, v in values.items()}).check()


def spec_of(f) -> Spec:
    return f.metadata["spec"]


def option_fields() -> List[Any]:
    """The fields of :class:`JobOptions`, in the order they are shown."""
    return list(fields(JobOptions))


def default_of(f) -> Any:
    return f.default_factory() if f.default is MISSING else f.default


# --------------------------------------------------------------------------------------------- text forms

def to_text(f, value: Any) -> str:
    """An option's value as typed on a command line (lists comma-separated, booleans on / off)."""
    if f.type == "bool":
        return "on" if value else "off"
    if f.type.startswith("List"):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value)
    return f"{value:g}" if isinstance(value, float) else str(value)


def from_text(f, text: str) -> Any:
    """The inverse of :func:`to_text`; a :class:`JobOptionError` names the option and the text."""
    flag = spec_of(f).flag
    if f.type == "bool":
        if text not in ("on", "off"):
            raise JobOptionError(f"{flag} must be on or off, not {text!r}")
        return text == "on"
    if f.type == "List[str]":
        return [v.strip() for v in text.split(",") if v.strip()]
    if f.type == "List[float]":
        try:
            return [float(v) for v in text.replace(" ", "").split(",") if v]
        except ValueError:
            raise JobOptionError(f"{flag} must be numbers separated by commas, not {text!r}") from None
    if f.type == "int":
        try:
            return int(text)
        except ValueError:
            raise JobOptionError(f"{flag} must be a whole number, not {text!r}") from None
    if f.type == "float":
        try:
            return float(text)
        except ValueError:
            raise JobOptionError(f"{flag} must be a number, not {text!r}") from None
    return text


# --------------------------------------------------------------------------------------------- checks

def _field_problem(f, value: Any) -> str:
    s = spec_of(f)
    if s.pattern:
        if not re.fullmatch(s.pattern, value):
            return f"{s.flag} must be {s.problem}, not {value!r}"
    elif s.choices and not f.type.startswith("List") and value not in s.choices:
        return f"{s.flag} must be {', '.join(s.choices)}, not {value!r}"
    if s.low is not None or s.high is not None:
        low_ok = s.low is None or (value > s.low if s.low_open else value >= s.low)
        high_ok = s.high is None or (value < s.high if s.high_open else value <= s.high)
        if not (low_ok and high_ok) or value != value:  # NaN passes neither
            return f"{s.flag} must be {s.problem or _range_text(s)}, not {value}"
    return ""


def _range_text(s: Spec) -> str:
    if s.high is None:
        return f"{s.low:g} or more"
    return f"between {s.low:g} and {s.high:g}"


def _joint_problems(o: JobOptions) -> List[str]:
    """What a single field's range cannot say."""
    problems = []
    if not o.hands or any(h not in HANDS for h in o.hands) or len(set(o.hands)) != len(o.hands):
        problems.append(f"--hands must be right, left or right,left, not {','.join(o.hands) or 'nothing'}")
    if o.frame_end != -1 and o.frame_end >= 0 and o.frame_end < o.frame_start:
        problems.append(f"--end {o.frame_end} comes before --start {o.frame_start}")
    if o.region and (len(o.region) != 3 or not o.region[2] > 0):
        problems.append(f"--region must be three numbers x0,y0,side (pixels) with a positive side, not "
                        f"{','.join(f'{v:g}' for v in o.region)}")
    if not o.search_scales or any(not 0.1 <= v <= 1.0 for v in o.search_scales):
        problems.append(f"--search-scales must be between 0.1 and 1 (fractions of the frame), not {o.search_scales}")
    if o.skin == "network" and o.model not in TEXTURE_MODELS:
        problems.append(f"--skin network needs a model that predicts colours ({', '.join(TEXTURE_MODELS)}), "
                        f"not {o.model}")
    if o.window_stride and o.window and o.window_stride > o.window:
        problems.append(f"--window-stride must be 0 (the checkpoint's own) or 1 to the window, not {o.window_stride}")
    if o.fit_window and not MIN_FIT_WINDOW <= o.fit_window <= MAX_FIT_WINDOW:
        problems.append(f"--fit-window must be 0 (the default) or {MIN_FIT_WINDOW} to {MAX_FIT_WINDOW} frames, "
                        f"not {o.fit_window}")
    return problems


# --------------------------------------------------------------------------------------------- command line

class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (``PROG: error: ... (see --help)``), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def add_job_arguments(ap: argparse.ArgumentParser, advanced: Optional[bool] = None) -> None:
    """Every job option as a flag. Advanced ones are accepted always but listed only by ``--help-advanced``
    (which this adds), or always with ``advanced=True``."""
    show = advanced
    if show is None:
        ap.add_argument("--help-advanced", action=_HelpAdvanced, nargs=0,
                        help="also list the advanced options (tuning and research knobs), then exit")
    group = ap.add_argument_group("job options")
    for f in option_fields():
        s = spec_of(f)
        text_choices = ("on", "off") if f.type == "bool" else () if (s.pattern or f.type.startswith("List")) \
            else s.choices
        help_text = s.help if (show or not s.advanced) else argparse.SUPPRESS
        group.add_argument(s.flag, dest=f.name, default=to_text(f, default_of(f)),
                           choices=text_choices or None, help=help_text, metavar=None if text_choices else _metavar(f))


def _metavar(f) -> str:
    return {"int": "N", "float": "X", "str": "TEXT"}.get(f.type, "LIST")


class _HelpAdvanced(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        for action in parser._actions:
            spec = _spec_by_dest(action.dest)
            if spec is not None and action.help == argparse.SUPPRESS:
                action.help = spec.help
        parser.print_help()
        parser.exit()


def _spec_by_dest(dest: str) -> Optional[Spec]:
    for f in option_fields():
        if f.name == dest:
            return spec_of(f)
    return None


def options_from_args(args: argparse.Namespace) -> JobOptions:
    """The parsed flags as checked :class:`JobOptions` (a :class:`JobOptionError` says what is wrong)."""
    values, problems = {}, []
    for f in option_fields():
        try:
            values[f.name] = from_text(f, getattr(args, f.name))
        except JobOptionError as exc:
            problems.append(str(exc))
    if problems:
        raise JobOptionError("; ".join(problems))
    return JobOptions(**values).check()


def option_flags(options: JobOptions, names: Sequence[str] = ()) -> List[str]:
    """Command-line flags that give ``options`` (only those that differ from the defaults, or ``names``)."""
    out = []
    for f in option_fields():
        value = getattr(options, f.name)
        if f.name in names or value != default_of(f):
            out += [spec_of(f).flag, to_text(f, value)]
    return out


def check_output_folder(path: str | Path, option: str = "--out") -> None:
    """The folder of output ``path`` exists (created if need be) and takes a new file; else a
    :class:`JobOptionError` that says why. Run before any work, so a job never ends unable to save."""
    folder = Path(path).resolve().parent
    blocker = next((p for p in [folder, *folder.parents] if p.exists()), None)
    if blocker is not None and not blocker.is_dir():
        raise JobOptionError(f"{option}: {blocker} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".hand-mocap-probe-"):
            pass
    except OSError as exc:
        raise JobOptionError(f"{option}: cannot write to {folder} ({exc.strerror or exc})") from None

