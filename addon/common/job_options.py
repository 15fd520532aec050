"""Options of a video job: the command-line flags shared by ``python -m inference run`` and Blender's batch
script, and the one check of their values, used by both command lines, the Blender operator and the worker.
"""
from __future__ import annotations

import argparse
import re
import tempfile
from pathlib import Path
from typing import List, NoReturn

from .models import MODEL_NAMES, TEXTURE_MODELS

HANDS = ("right", "left")
HAND_MODELS = ("open", "makehuman")  # the built-in hands (addon/common/hand_model.py BUILTIN_HANDS)
REFINE = ("keypoints", "off")
# What the detector's keypoints are to the fit: MANO's joints, or points short of them along each bone by the
# offsets measured on the project's renders (inference/keypoint_convention.py)
KEYPOINT_OFFSETS = ("joints", "measured")
# What the fit is fitted to: MediaPipe's landmarks as the detector found them; the project's keypoint network on
# the hand's crop (trained on MANO's joints): its points; or MediaPipe's points with the network's depths
# auto (the default): the keypoint network's points where its checkpoint is installed, else MediaPipe's
KEYPOINT_SOURCES = ("auto", "network", "mediapipe", "depth")
# the rig's skin: the built-in texture, colours taken from the footage, or the colours the network predicts
SKINS = ("procedural", "footage", "network")
SEARCH_SCALES = (0.2, 0.3, 0.5)  # crop search tiles, as fractions of the frame's shorter side
MAX_WINDOW = 32  # Deformer's temporal embedding covers this many frames
MIN_FIT_WINDOW, MAX_FIT_WINDOW = 12, 1024  # the fitting stage's windows: enough frames to smooth, memory to spare


class JobOptionError(ValueError):
    """A job option with a value no job can use; the message names the option as on the command line."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (``PROG: error: ... (see --help)``), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def add_job_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--model", default="blurhandnet", choices=MODEL_NAMES)
    ap.add_argument("--checkpoint", default="", help="a trained checkpoint (default: the model's shipped one)")
    ap.add_argument("--hands", default="right,left",
                    help="right,left (every hand found, default), or right / left: the footage shows one such hand")
    ap.add_argument("--start", type=int, default=0, help="first footage frame (0-based)")
    ap.add_argument("--end", type=int, default=-1, help="last footage frame, inclusive (-1: the end)")
    ap.add_argument("--exposure", type=float, default=0.5, help="shutter in frames, for sub-frame keys (0..1)")
    ap.add_argument("--smoothing", type=float, default=0.0, help="jitter filter strength, 0 (off) .. 1")
    ap.add_argument("--fill-gaps", type=int, default=0, help="interpolate across up to N frames without a hand")
    ap.add_argument("--fov", type=float, default=60.0, help="horizontal field of view of the footage, degrees")
    ap.add_argument("--region", default="", help="x0,y0,side: a fixed hand region instead of detection")
    ap.add_argument("--mano", default="", help="folder with official MANO files (default: a built-in hand)")
    ap.add_argument("--hand-model", default=HAND_MODELS[0], choices=HAND_MODELS,
                    help="the built-in hand when --mano is not given: open (default) or makehuman")
    ap.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    ap.add_argument("--refine", default="keypoints", choices=REFINE,
                    help="keypoints (default): fit the hand to the detector's keypoints over time; off: the "
                         "network's raw output")
    ap.add_argument("--search", default="on", choices=("on", "off"),
                    help="on (default): look for hands the palm detector missed, around lost hands and in tiles")
    ap.add_argument("--search-scales", default=",".join(f"{v:g}" for v in SEARCH_SCALES),
                    help="tile sides of the search, as fractions of the frame's shorter side")
    ap.add_argument("--refine-strength", type=float, default=1.0,
                    help="how strongly the keypoints pull against the network and the hand priors (0..4, 1 = default)")
    ap.add_argument("--keypoint-offsets", default=KEYPOINT_OFFSETS[0], choices=KEYPOINT_OFFSETS,
                    help="joints (default): fit MANO's joints onto the keypoints; measured: MediaPipe's keypoints "
                         "lie short of the joints, by offsets measured on renders (better 2D fit, see the README); "
                         "with the keypoint network's points (the default where it is installed) it has no effect")
    ap.add_argument("--keypoints", default=KEYPOINT_SOURCES[0], choices=KEYPOINT_SOURCES,
                    help="the keypoints the fit uses: auto (default): the network's where its checkpoint is "
                         "installed, else MediaPipe's; network: the project's keypoint network's points on each "
                         "crop (the hand placed on MediaPipe's); mediapipe: MediaPipe's landmarks; depth: MediaPipe's "
                         "points with the network's depths (see the README's fitting section)")
    ap.add_argument("--skin", default=SKINS[0], choices=SKINS,
                    help="procedural (default): the hand model's own skin; footage: the hand's colours taken from "
                         "the footage (per vertex, the median over the frames that see it); network: the colours "
                         f"the model predicts ({', '.join(TEXTURE_MODELS)}), aggregated the same way")
    ap.add_argument("--window", type=int, default=0,
                    help="deformer: frames per sliding window (0: the checkpoint's own, 8 for the shipped one)")
    ap.add_argument("--window-stride", type=int, default=0,
                    help="deformer: frames between window starts; overlaps are blended (0: the checkpoint's own)")
    ap.add_argument("--fit-window", type=int, default=0,
                    help=f"footage frames per window of the fitting stage ({MIN_FIT_WINDOW}-{MAX_FIT_WINDOW}; 0: "
                         "128): shorter windows send their first keys sooner, longer ones smooth over more frames")


def parse_region(text: str) -> List[float]:
    """``"x0,y0,side"`` (pixels) -> three floats; empty text -> no region."""
    if not text.strip():
        return []
    try:
        values = [float(v) for v in text.replace(" ", "").split(",")]
    except ValueError:
        values = []
    if len(values) != 3:
        raise JobOptionError(f"--region must be three numbers x0,y0,side (pixels), not {text!r}")
    return values


def parse_scales(text: str) -> List[float]:
    """``"0.3,0.5"`` -> [0.3, 0.5]."""
    try:
        return [float(v) for v in text.replace(" ", "").split(",") if v]
    except ValueError:
        raise JobOptionError(f"--search-scales must be numbers separated by commas, not {text!r}") from None


def job_fields(args: argparse.Namespace) -> dict:
    """The parsed options as the checked fields of a job (``protocol.Start`` / ``JobSettings``)."""
    hands: List[str] = [h.strip() for h in args.hands.split(",") if h.strip()]
    fields = dict(model=args.model, checkpoint=args.checkpoint, hands=hands, frame_start=args.start,
                  frame_end=args.end, exposure=args.exposure, smoothing=args.smoothing, fill_gaps=args.fill_gaps,
                  fov_deg=args.fov, region=parse_region(args.region), mano_dir=args.mano,
                  hand_model=args.hand_model, device=args.device,
                  refine=args.refine, refine_strength=args.refine_strength, keypoint_offsets=args.keypoint_offsets,
                  keypoint_source=args.keypoints,
                  search=args.search == "on",
                  search_scales=parse_scales(args.search_scales), window=args.window, skin=args.skin,
                  window_stride=args.window_stride, fit_window=args.fit_window)
    check_job_fields(fields)
    return fields


def check_job_fields(f: dict) -> None:
    """Every problem with a job's option values at once, as one :class:`JobOptionError`."""
    problems = []
    hands = list(f.get("hands", HANDS))
    if not hands or any(h not in HANDS for h in hands) or len(set(hands)) != len(hands):
        problems.append(f"--hands must be right, left or right,left, not {','.join(hands) or 'nothing'}")
    if f.get("model", MODEL_NAMES[0]) not in MODEL_NAMES:
        problems.append(f"--model must be one of {', '.join(MODEL_NAMES)}, not {f['model']!r}")
    start, end = f.get("frame_start", 0), f.get("frame_end", -1)
    if start < 0:
        problems.append(f"--start must be 0 or more (footage frames count from 0), not {start}")
    if end < -1:
        problems.append(f"--end must be a footage frame or -1 (the last frame), not {end}")
    elif end != -1 and end < start:
        problems.append(f"--end {end} comes before --start {start}")
    exposure = f.get("exposure", 0.5)
    if not 0.0 <= exposure < 1.0:
        problems.append(f"--exposure must be in [0, 1) frames (a shutter cannot stay open longer than a frame), "
                        f"not {exposure}")
    smoothing = f.get("smoothing", 0.0)
    if not 0.0 <= smoothing <= 1.0:
        problems.append(f"--smoothing must be between 0 and 1, not {smoothing}")
    if f.get("fill_gaps", 0) < 0:
        problems.append(f"--fill-gaps must be 0 or more frames, not {f['fill_gaps']}")
    fov = f.get("fov_deg", 60.0)
    if not 1.0 <= fov <= 179.0:
        problems.append(f"--fov must be a horizontal field of view between 1 and 179 degrees, not {fov}")
    region = list(f.get("region", []))
    if region and (len(region) != 3 or region[2] <= 0):
        problems.append(f"--region must be x0,y0,side with a positive side, not {region}")
    if f.get("refine", REFINE[0]) not in REFINE:
        problems.append(f"--refine must be {' or '.join(REFINE)}, not {f['refine']!r}")
    strength = f.get("refine_strength", 1.0)
    if not 0.0 < strength <= 4.0:
        problems.append(f"--refine-strength must be more than 0 and at most 4, not {strength}")
    if f.get("keypoint_offsets", KEYPOINT_OFFSETS[0]) not in KEYPOINT_OFFSETS:
        problems.append(f"--keypoint-offsets must be {' or '.join(KEYPOINT_OFFSETS)}, not {f['keypoint_offsets']!r}")
    if f.get("keypoint_source", KEYPOINT_SOURCES[0]) not in KEYPOINT_SOURCES:
        problems.append(f"--keypoints must be {', '.join(KEYPOINT_SOURCES)}, not {f['keypoint_source']!r}")
    scales = list(f.get("search_scales", [0.5]))
    if not scales or any(not 0.1 <= v <= 1.0 for v in scales):
        problems.append(f"--search-scales must be between 0.1 and 1 (fractions of the frame), not {scales}")
    if f.get("hand_model", HAND_MODELS[0]) not in HAND_MODELS:
        problems.append(f"--hand-model must be one of {', '.join(HAND_MODELS)}, not {f['hand_model']!r}")
    if f.get("skin", SKINS[0]) not in SKINS:
        problems.append(f"--skin must be {', '.join(SKINS)}, not {f['skin']!r}")
    elif f.get("skin") == "network" and f.get("model", "blurhandnet") not in TEXTURE_MODELS:
        problems.append(f"--skin network needs a model that predicts colours ({', '.join(TEXTURE_MODELS)}), "
                        f"not {f.get('model', 'blurhandnet')}")
    window, stride = f.get("window", 0), f.get("window_stride", 0)
    if not 0 <= window <= MAX_WINDOW:
        problems.append(f"--window must be 0 (the checkpoint's own) or 1 to {MAX_WINDOW} frames, not {window}")
    if stride < 0 or (window and stride > window):
        problems.append(f"--window-stride must be 0 (the checkpoint's own) or 1 to the window, not {stride}")
    fit_window = f.get("fit_window", 0)
    if fit_window and not MIN_FIT_WINDOW <= fit_window <= MAX_FIT_WINDOW:
        problems.append(f"--fit-window must be 0 (the default) or {MIN_FIT_WINDOW} to {MAX_FIT_WINDOW} frames, "
                        f"not {fit_window}")
    device = f.get("device", "auto")
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", device):
        problems.append(f"--device must be auto, cpu, cuda or cuda:N, not {device!r}")
    if problems:
        raise JobOptionError("; ".join(problems))


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
