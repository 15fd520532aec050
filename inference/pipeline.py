"""Footage -> motion sequences: the worker's job, also run directly by ``python -m inference run``.

The job is a list of named stages, each timed by one :class:`~inference.stage_timer.StageTimer`:

1. **read**: open the footage (``video.py``) and load the networks;
2. **find hands**: the detector on every frame, in one streaming pass (``find_hands.py``), then tracks
   (``tracking.py``);
3. **decide sides**: each track fitted as a right and a left hand on a few frames (``side.py``);
4. a second streaming pass, per hand (``hand_pass.py``): **model** (the network on the hand's crops),
   **keypoints** (the keypoint network, where the fit follows its points), **place**, **fit** (``fit/``) and
   **stream** (``hand_stream.py``): keys written as chunk files as soon as they are final;
5. **colours** (optional) and **save**: the complete sequence per hand.

Memory stays flat with the footage's length: frames are decoded one at a time in both passes.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np
import torch

from addon.common.hand_model import HandModel, find_hand_model
from addon.common.job_options import JobOptions
from addon.common.motion_sequence import MotionSequence

from .camera import intrinsics_from_fov
from .catalog import DEFAULT_MODEL, KEYPOINT_CHECKPOINT, ModelUnavailable, checkpoint_dir, resolve_checkpoint
from .find_hands import FoundHands, find_hands
from .fit import FitSettings, FitWeights, TrackFitter
from .footage_colours import NetworkColours, footage_colours
from .hand_pass import HandPass
from .hand_stream import HandStream, to_sequence
from .job_context import Emit, JobCancelled, JobContext
from .keypoint_reader import KeypointReader, load_keypoint_network
from .records import Sample
from .runners import make_runner
from .side import decide_sides
from .tracking import Track, build_tracks, one_hand_tracks, select_hands, smooth_boxes
from .video import Footage

__all__ = ["run_job", "JobResult", "NoHandFound", "JobCancelled", "pick_device", "keypoint_source"]

BATCH_SIZE = 8  # crops per network call
# MediaPipe's labels must agree with a hand's side this much (Track.label_evidence, towards the side) for the fit
# to follow its keypoints: on the real photos they agree at +0.5 to +1, on the project's renders below 0.
MEDIAPIPE_READS_IT = 0.4
# The fit's price of a bent finger with the keypoint network's points (FitWeights.straight); with MediaPipe's it
# stays off, where it fitted a fist as a flat hand turned towards the camera (docs/fitting.md).
NETWORK_STRAIGHT = 1.0


class NoHandFound(RuntimeError):
    """No hand of the requested sides anywhere in the frame range."""


@dataclass
class JobResult:
    paths: Dict[str, str]  # side -> complete motion-sequence file
    frames_without_hand: List[int]
    seconds: Dict[str, float]  # per stage (the stage timer's names)


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but torch sees no CUDA GPU")
    return torch.device(name)


def keypoint_source(track: Track, options: JobOptions, ctx: JobContext, number: int) -> str:
    """The keypoints a hand's fit follows. ``auto``: MediaPipe's where its handedness labels agree with the
    hand's side (``Track.label_evidence`` towards it at least ``MEDIAPIPE_READS_IT``), the keypoint network's
    where MediaPipe is unsure of the hand or takes it for the other one: it then reads the hand poorly too (on
    the project's renders its labels flip and its keypoints are off; on real hands they agree and its
    keypoints are the better ones: docs/fitting.md). A job asked for ``network`` outright stops without the
    network's checkpoint; ``auto`` falls back to MediaPipe's with a warning."""
    if options.keypoint_source != "auto":
        return options.keypoint_source
    agreement = track.label_evidence() * (1.0 if track.side == "right" else -1.0)
    if agreement >= MEDIAPIPE_READS_IT:
        ctx.log(f"hand {number}: the fit follows MediaPipe's keypoints (its labels agree with the hand's side: "
                f"{agreement:+.2f})")
        return "mediapipe"
    path = checkpoint_dir() / KEYPOINT_CHECKPOINT
    if not path.is_file():
        ctx.log(f"hand {number}: MediaPipe is unsure of this hand's side ({agreement:+.2f}), but there is no "
                f"keypoint network at {path}: the fit follows MediaPipe's keypoints", "warning")
        return "mediapipe"
    ctx.log(f"hand {number}: the fit follows the keypoint network's points (MediaPipe is unsure of the hand's "
            f"side: {agreement:+.2f})")
    return "network"


def fit_settings(options: JobOptions, source: str) -> FitSettings:
    """The fitting stage's settings for these options and keypoints (``mediapipe`` or ``network``)."""
    fit = FitSettings().scaled(options.refine_strength)
    if source == "network":
        fit = dataclasses.replace(fit, weights=network_weights(fit.weights))
    if options.fit_window:  # shorter windows: the first keys arrive sooner; each window shares a sixth
        fit = dataclasses.replace(fit, window=options.fit_window, overlap=max(2, options.fit_window // 6))
    return fit


def network_weights(weights: FitWeights) -> FitWeights:
    """The fit's weights for the keypoint network's points: the straight prior, and no mirror-labelled readings
    (the network reads each crop as the track's side, so its labels are never a mirror image's)."""
    return dataclasses.replace(weights, straight=NETWORK_STRAIGHT, flip_cost=-1.0)


class Networks:
    """The job's networks on its device: the chosen model, the one that weighs in on the sides, and the
    keypoint network where the fit follows its points."""

    def __init__(self, options: JobOptions, right_model: HandModel, device: torch.device, detected: bool,
                 ctx: JobContext):
        from .models.output import load_model

        self.net = load_model(resolve_checkpoint(options.model, options.checkpoint or None),
                              hand_model=right_model).to(device)
        self.side_net = self.net
        if len(options.hands) != 1 and detected and self.net.model_name != DEFAULT_MODEL:
            # The video models' global orientation is too loose to weigh the sides with: the default's decides.
            try:
                self.side_net = load_model(resolve_checkpoint(DEFAULT_MODEL), hand_model=right_model).to(device)
                ctx.log(f"the side of each hand is weighed with {DEFAULT_MODEL}'s orientation")
            except ModelUnavailable:
                pass
        self.device = device
        self._keypoints = None
        if options.refine == "keypoints" and options.keypoint_source == "network" and detected:
            self.keypoint_network()  # asked for outright: missing, the job stops before any decoding

    def keypoint_network(self):
        if self._keypoints is None:
            self._keypoints = load_keypoint_network(device=self.device)
        return self._keypoints


def make_tracks(found: FoundHands, options: JobOptions) -> List[Track]:
    if len(options.hands) == 1:
        return one_hand_tracks(found.frames, options.hands[0], first_frame=found.start)
    return build_tracks(found.frames, first_frame=found.start)


def run_job(video: str, options: JobOptions, job_dir: str | Path, emit: Emit = lambda kind, fields: None,
            cancelled=lambda: False) -> JobResult:
    """The whole job; ``emit`` receives progress, log lines and each chunk file (``partial``) as it is written."""
    ctx = JobContext(emit, cancelled)
    timer = ctx.timer
    options = options.check()
    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    with timer("read"):
        resolve_checkpoint(options.model, options.checkpoint or None)  # fails before any decoding
        footage = Footage(video)
        start, end = footage.frame_range(options.frame_start, options.frame_end)
        info = footage.info
        k = intrinsics_from_fov(info.width, info.height, options.fov_deg)
        device = pick_device(options.device)
        models = {side: find_hand_model(side, options.mano_dir or None, options.hand_model)
                  for side in ("right", "left")}
        region = np.array(options.region, dtype=np.float64) if options.region else None
        nets = Networks(options, models["right"], device, region is None, ctx)

    # Find hands, then decide each track's side.
    found = find_hands(footage, start, end, options, region, nets.side_net.config.image_size, ctx)
    end = found.end
    if end == start:  # a photo: one key, at the frame (no exposure to unfold)
        options = dataclasses.replace(options, exposure=0.0)
    tracks = make_tracks(found, options)
    if len(options.hands) != 1 and region is None and tracks:  # the user did not say which hand: geometry decides
        with timer("side"):
            tracks = decide_sides(tracks, found.side_crops, nets.side_net, models, k, device, ctx)
    found.side_crops.clear()
    tracks = select_hands(tracks, options.hands)
    if not tracks:
        raise NoHandFound(f"{info.path}: no {' or '.join(options.hands)} hand found in frames {start}..{end}")
    seen = set().union(*(t.detections for t in tracks))
    missing = [f for f in range(start, end + 1) if f not in seen]
    if missing:
        ctx.log(f"{len(missing)} frame(s) without a hand get no key: {_ranges(missing)}")

    # The second pass: per hand, model -> keypoints -> place -> fit -> stream.
    writer = ChunkWriter(job_dir, info, options.model, k, ctx)
    fits = options.refine == "keypoints" and region is None
    sources = {t.side: keypoint_source(t, options, ctx, n + 1) if fits else "" for n, t in enumerate(tracks)}
    with timer("read"):
        passes = {t.side: hand_pass(t, sources[t.side], options, nets, models[t.side], models["right"], k, device,
                                    info.fps, end - start + 1, timer) for t in tracks}
    for n, (index, rgb) in enumerate(timer.iterate("decode", footage.frames(start, end))):
        for side, p in passes.items():
            writer.add(side, p.push(index, rgb))
        if n % BATCH_SIZE == BATCH_SIZE - 1:
            ctx.progress("model", n + 1, end - start + 1)
    for side, p in passes.items():
        writer.add(side, p.flush(end))

    paths = {}
    for side, p in passes.items():
        seq = writer.whole(side)
        if seq is None:
            continue
        if options.skin == "footage":
            ctx.check_cancel()
            with timer("colours"):
                found_colours = footage_colours(footage.frames(start, end), seq, models[side],
                                                options.first_blender_frame)
            seq.vertex_colors = found_colours.colours
            ctx.log(f"the {side} hand's colours come from {found_colours.frames} frames of the footage; "
                    f"{(found_colours.seen > 0).mean():.0%} of its skin was seen, the rest is filled from its "
                    "neighbours")
        if p.colours is not None:
            own = p.colours.result()
            seq.vertex_colors = own.colours
            ctx.log(f"the {side} hand's colours are {options.model}'s own, from {own.frames} frames; "
                    f"{(own.seen > 0).mean():.0%} of its skin was seen by the network, the rest is filled from its "
                    "neighbours")
        with timer("save"):
            paths[side] = str(seq.save(job_dir / f"{side}.npz"))
        depth = np.median(seq.transl[:, 2] + models[side].rest_joints(seq.betas[0])[0, 2])
        ctx.log(f"the {side} hand's wrist is {depth:.2f} m from the camera (median) at a {options.fov_deg:g} degree "
                "field of view: its distance scales with the field of view, which the keypoints cannot tell; give "
                "--fov if you know the lens")
    emit("progress", {"stage": "model", "done": end - start + 1, "total": end - start + 1})
    return JobResult(paths, missing, timer.rounded())


def hand_pass(track: Track, source: str, options: JobOptions, nets: Networks, model: HandModel,
              right_model: HandModel, k: np.ndarray, device: torch.device, fps: float, total: int, timer) -> HandPass:
    """One hand's second pass, with the fit on ``source``'s keypoints where it runs (empty: no fit)."""
    fitter = TrackFitter(model, right_model, k, fit_settings(options, source), device) if source else None
    return HandPass(
        track.side, track.detections, smooth_boxes(track), nets.net.config.image_size,
        make_runner(nets.net, device, BATCH_SIZE, options.window, options.window_stride),
        KeypointReader(nets.keypoint_network(), device, BATCH_SIZE) if source == "network" else None,
        model, k, HandStream(options, fps, fitter, timer), timer,
        NetworkColours(model.f, total) if options.skin == "network" else None)


class ChunkWriter:
    """Each batch of final keys as a chunk file in the job folder (announced with ``partial``), and the whole
    sequence per hand at the end."""

    def __init__(self, job_dir: Path, info, model: str, k: np.ndarray, ctx: JobContext):
        self.job_dir, self.info, self.model, self.k, self.ctx = job_dir, info, model, k, ctx
        self.samples: Dict[str, List[Sample]] = {}
        self.count = 0

    def add(self, side: str, new: List[Sample]) -> None:
        if not new:
            return
        self.samples.setdefault(side, []).extend(new)
        seq = self._sequence(side, new)
        with self.ctx.timer("save"):
            path = seq.save(self.job_dir / f"{side}_chunk{self.count:05d}.npz")
        self.count += 1
        self.ctx.emit("partial", {"hand": side, "path": str(path), "frames": [float(f) for f in seq.frames]})

    def whole(self, side: str) -> Optional[MotionSequence]:
        samples = self.samples.get(side)
        return self._sequence(side, samples) if samples else None

    def _sequence(self, side: str, samples: List[Sample]) -> MotionSequence:
        return to_sequence(samples, side, self.info.fps, self.model, self.k, (self.info.width, self.info.height),
                           self.info.path)


def _ranges(frames: List[int]) -> str:
    """[1, 2, 3, 7] -> '1-3, 7'."""
    out, run = [], [frames[0], frames[0]]
    for f in frames[1:]:
        if f == run[1] + 1:
            run[1] = f
        else:
            out.append(run)
            run = [f, f]
    out.append(run)
    return ", ".join(f"{a}-{b}" if a != b else f"{a}" for a, b in out)
