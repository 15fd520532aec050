"""Video -> motion sequences: the worker's job, also run directly by ``python -m inference run``.

Two passes over the footage, each decoding one frame at a time (memory does not grow with its length):

1. detect: MediaPipe (or a fixed region) on every frame -> tracks with a stable side and smoothed boxes;
2. model: crops (left hands mirrored into the right-hand model) in batches -> MANO per time step ->
   camera-space translation from the model's own 2D joints -> per-hand samples, streamed as chunk files.

BlurHandNet's three hands per frame become samples at frame - e/2, frame and frame + e/2; which end hand
comes first is decided by continuity: the start of frame t should meet the end of frame t - 1, and the end
of frame t the middle of frame t + 1 (one frame of look-ahead).
"""
from __future__ import annotations

import dataclasses
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from addon.common.hand_model import HandModel, find_hand_model
from addon.common.job_options import SEARCH_SCALES, check_job_fields
from addon.common.joints import TIP_VERTEX_IDS
from addon.common.lbs import lbs
from addon.common.motion_sequence import MotionSequence
from addon.common.rotations import mirror_axis_angle

from .camera import intrinsics_from_fov, solve_translation
from .catalog import KEYPOINT_CHECKPOINT, checkpoint_dir, resolve_checkpoint
from .crop import crop_affine, crop_image, crop_to_image, normalise
from .detect import Detection, make_detector, source_counts
from .filters import PoseSmoother, interpolate_pose
from .fitting import FitSettings, FitWeights, TrackFitter, fit_frames
from .keypoint_convention import ON_JOINTS, detector_offsets
from .keypoint_reader import KeypointReader, load_keypoint_network
from .footage_colours import NetworkColours, footage_colours
from .runners import FrameOutput, make_runner, predict_independent
from .side import SideEvidence, orientation_gap_deg, sample_frames, weigh_evidence
from .tracking import Track, build_tracks, one_hand, one_track_per_side, select_hands, smooth_boxes
from .video import Footage, FootageError

TIPS = list(TIP_VERTEX_IDS.values())
# Translation weights: the palm (wrist, MCPs, thumb CMC) is rigid, so an error in predicted finger bend
# should not drag the whole hand off its place in the image.
PALM = [0, 1, 4, 7, 10, 13]
TRANSLATION_WEIGHTS = np.where(np.isin(np.arange(21), PALM), 1.0, 0.2)
TRANSLATION_WEIGHTS[0] = 4.0  # the wrist anchors the rig: it should sit where the detector saw it
SIDE_SAMPLE_FRAMES = 24  # frames whose crops pass 1 keeps for the side decision
SIDE_FIT_FRAMES = 10  # of those, per track, fitted as each side
SIDE_FIT = FitSettings(FitWeights(pose_prior=0.0, orient_prior=0.0), iterations=30, start_iterations=15, lr=0.03,
                       lr_end=0.03)
# The fit's price of a bent finger with the keypoint network's points (FitWeights.straight). With MediaPipe's it
# stays off: at 1 the sample clip's fist was fitted as a flat hand turned towards the camera.
NETWORK_STRAIGHT = 1.0
# A joint whose predicted variance (summed over x, y, z) is 9 cm^2, an expected error of 3 cm (about a finger
# segment), has confidence 0.5.
VARIANCE_AT_HALF_CM2 = 9.0


def joint_confidence(variance_cm2: np.ndarray) -> np.ndarray:
    """A model's per-joint variance (cm^2, summed over x, y, z) -> the motion sequence's confidence in [0, 1]."""
    return 1.0 / (1.0 + np.maximum(np.asarray(variance_cm2, dtype=np.float64), 0.0) / VARIANCE_AT_HALF_CM2)


class NoHandFound(RuntimeError):
    """No hand of the requested sides anywhere in the frame range."""


class JobCancelled(RuntimeError):
    pass


@dataclass
class JobSettings:
    video: str
    model: str = "blurhandnet"
    checkpoint: str = ""
    hands: List[str] = field(default_factory=lambda: ["right", "left"])
    frame_start: int = 0
    frame_end: int = -1
    first_blender_frame: int = 1  # Blender frame of footage frame 0
    exposure: float = 0.5  # frames; BlurHandNet's end hands sit at +-exposure/2
    smoothing: float = 0.0  # 0 = off .. 1 = strongest
    fill_gaps: int = 0  # fill runs of at most this many frames without a hand (0 = leave them unkeyed)
    fov_deg: float = 60.0  # horizontal field of view when the intrinsics are unknown
    region: List[float] = field(default_factory=list)  # fixed (x0, y0, side) instead of detection
    mano_dir: str = ""
    hand_model: str = "open"  # the built-in hand when mano_dir is empty: open or makehuman
    device: str = "auto"
    refine: str = "keypoints"  # "keypoints": the fitting stage on the detector's keypoints; "off": the network's output
    refine_strength: float = 1.0  # the keypoints' pull against the priors (1 = default)
    keypoint_offsets: str = "joints"  # "measured": the keypoints lie short of MANO's joints (keypoint_convention)
    # the fit's keypoints: "network": the keypoint network's 2D points (the hand placed on MediaPipe's); "mediapipe":
    # MediaPipe's; "depth": MediaPipe's 2D points with the network's depths; "auto": network where its checkpoint is
    # installed, else mediapipe (resolve_keypoint_source)
    keypoint_source: str = "auto"
    search: bool = True  # look for hands the palm detector missed (track by crop, tiled search)
    search_scales: List[float] = field(default_factory=lambda: list(SEARCH_SCALES))  # tiles / the frame's shorter side
    window: int = 0  # Deformer: frames per window (0: the checkpoint's own)
    window_stride: int = 0  # Deformer: frames between window starts (0: the checkpoint's own)
    fit_window: int = 0  # footage frames per fitting window (0: the fitting stage's default, 128)
    skin: str = "procedural"  # "footage" / "network": per-vertex colours (the footage's / the model's) in the final sequences
    batch_size: int = 8

    def validate(self) -> None:
        check_job_fields(asdict(self))


@dataclass
class JobResult:
    paths: Dict[str, str]  # side -> complete motion-sequence file
    frames_without_hand: List[int]
    seconds: Dict[str, float]  # decode / detect / model / post per stage


Emit = Callable[[str, dict], None]  # (kind: "progress" | "partial" | "log", fields)


def pick_device(name: str = "auto") -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for but torch sees no CUDA GPU")
    return torch.device(name)


class HandStream:
    """One hand's samples, produced in order: end-hand ordering (one frame of look-ahead), the fitting stage
    (when given a :class:`TrackFitter`), sub-frame times, gap filling, smoothing.

    ``push`` takes each footage frame's result (or None) and returns the samples that are final."""

    def __init__(self, settings: JobSettings, fps: float, fitter: Optional[TrackFitter] = None):
        self.s, self.fps, self.fitter = settings, fps, fitter
        self.pending: Optional[dict] = None  # waiting for one frame of look-ahead
        self.prev_end: Optional[np.ndarray] = None
        self.last_kept: Optional[dict] = None
        self.smoother = PoseSmoother(settings.smoothing) if settings.smoothing > 0 else None
        self.last_time: Optional[float] = None

    def push(self, frame: int, result: Optional[dict]) -> List[dict]:
        ordered: List[dict] = []
        if self.pending is not None:
            ordered.append(self._order(self.pending, result))
        self.pending = result
        return self._emit(self.fitter.push(ordered) if self.fitter else ordered)

    def flush(self) -> List[dict]:
        ordered = [self._order(self.pending, None)] if self.pending is not None else []
        self.pending = None
        return self._emit(self.fitter.push(ordered) + self.fitter.flush() if self.fitter else ordered)

    def _order(self, frame_result: dict, following: Optional[dict]) -> dict:
        """BlurHandNet's three hands as (start, middle, end) of the exposure, by continuity with the previous
        frame's end and the next frame's middle; only the middle one when the exposure is 0."""
        times = frame_result["times"]  # list of dicts: pose (48,), betas, transl, joints (21, 3)
        if len(times) != 3:
            self.prev_end = times[0]["joints"]
            return frame_result
        first, mid, last = times
        swap_cost = keep_cost = 0.0
        if self.prev_end is not None:
            keep_cost += _distance(first["joints"], self.prev_end)
            swap_cost += _distance(last["joints"], self.prev_end)
        if following is not None:
            nxt = following["times"][1]["joints"]
            keep_cost += _distance(last["joints"], nxt)
            swap_cost += _distance(first["joints"], nxt)
        if swap_cost < keep_cost:
            first, last = last, first
        self.prev_end = last["joints"]
        return {**frame_result, "times": [first, mid, last] if self.s.exposure > 0 else [mid]}

    def _emit(self, frame_results: List[dict]) -> List[dict]:
        out = []
        for r in frame_results:
            times = r["times"]
            e = self.s.exposure
            offsets = [-e / 2, 0.0, e / 2] if len(times) == 3 else [0.0]
            base = r["frame"] + self.s.first_blender_frame
            samples = [{"frame": base + o, "pose": t["pose"], "betas": t["betas"], "transl": t["transl"],
                        "confidence": r["score"],
                        **({"joint_confidence": t["joint_confidence"]} if "joint_confidence" in t else {})}
                       for o, t in zip(offsets, times)]
            filled = self._fill_gap(samples[0])
            self.last_kept = samples[-1]
            out += [self._smooth(s) for s in filled + samples]
        return out

    def _fill_gap(self, next_sample: dict) -> List[dict]:
        """Samples for the footage frames between the last kept sample and ``next_sample``: interpolated
        (confidence 0) when there are at most ``fill_gaps`` of them, else none."""
        if self.last_kept is None:
            return []
        a, b = self.last_kept, next_sample
        gap = [f for f in range(int(np.floor(a["frame"])) + 1, int(np.ceil(b["frame"])))
               if a["frame"] < f < b["frame"]]
        if not gap or len(gap) > self.s.fill_gaps:
            return []
        out = []
        for frame in gap:
            t = (frame - a["frame"]) / (b["frame"] - a["frame"])
            out.append({"frame": float(frame), "pose": interpolate_pose(a["pose"], b["pose"], t),
                        "betas": (1 - t) * a["betas"] + t * b["betas"],
                        "transl": (1 - t) * a["transl"] + t * b["transl"], "confidence": 0.0,
                        **({"joint_confidence": np.zeros(21)} if "joint_confidence" in a else {})})
        return out

    def _smooth(self, sample: dict) -> dict:
        if self.smoother is None:
            return sample
        dt = 0.0 if self.last_time is None else (sample["frame"] - self.last_time) / self.fps
        self.last_time = sample["frame"]
        pose, transl = self.smoother(sample["pose"], sample["transl"], dt)
        return {**sample, "pose": pose, "transl": transl}


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm((a - a[:1]) - (b - b[:1]), axis=-1).mean())


def to_sequence(samples: List[dict], side: str, fps: float, model: str, k: np.ndarray, size, source: str) -> MotionSequence:
    pose = np.stack([s["pose"] for s in samples])
    per_joint = np.stack([s["joint_confidence"] for s in samples]) \
        if all("joint_confidence" in s for s in samples) else None
    return MotionSequence(
        frames=np.array([s["frame"] for s in samples], dtype=np.float64), global_orient=pose[:, :3],
        hand_pose=pose[:, 3:], betas=np.stack([s["betas"] for s in samples]),
        transl=np.stack([s["transl"] for s in samples]), handedness=side, fps=fps, model=model,
        confidence=np.array([s["confidence"] for s in samples], dtype=np.float64), joint_confidence=per_joint,
        camera_matrix=k, image_size=np.array(size), source=source)


def mano_joints(model: HandModel, pose: np.ndarray, betas: np.ndarray) -> np.ndarray:
    """(N, 48), (N, 10) -> (N, 21, 3) MANO-21 joints, no translation."""
    out = lbs(betas, pose, model.v_template, model.shapedirs, model.posedirs, model.J_regressor, model.parents,
              model.weights)
    return np.concatenate([out.joints, out.vertices[:, TIPS]], axis=1)


def place_hands(pose: np.ndarray, betas: np.ndarray, joints_crop: np.ndarray, affine: np.ndarray, mirrored: bool,
                det: Detection, model: HandModel, k: np.ndarray,
                joint_variance: Optional[np.ndarray] = None) -> List[dict]:
    """One crop's T hands -> camera-space hands of the footage's side.

    pose (T, 48) and betas (T, 10) are right-hand MANO from the network; joints_crop (T, 21, 2) its 2D joints
    in crop pixels. A mirrored crop's hands are mirrored back; each hand's translation is solved so that its
    joints project onto the detector's keypoints (the middle hand) shifted by the network's own 2D motion
    (the end hands). ``joint_variance`` (T, 21) cm^2, where the model gives one, becomes each hand's
    ``joint_confidence``."""
    if mirrored:
        pose = mirror_axis_angle(pose)
    joints = mano_joints(model, pose, betas)
    pixels = np.stack([crop_to_image(j, affine) for j in joints_crop])
    if det.has_keypoints:  # the detector sees the whole frame: it places the hand
        pixels = pixels + (det.keypoints - pixels[len(pose) // 2])
    out = []
    for t in range(len(pose)):
        transl = solve_translation(joints[t], pixels[t], k, TRANSLATION_WEIGHTS)
        out.append({"pose": pose[t], "betas": betas[t], "transl": transl, "joints": joints[t] + transl})
        if joint_variance is not None:
            out[-1]["joint_confidence"] = joint_confidence(joint_variance[t])
    return out


def offsets(settings: JobSettings) -> tuple:
    """Where the fit expects the detector's keypoints, relative to MANO's joints (``--keypoint-offsets``)."""
    return detector_offsets() if settings.keypoint_offsets == "measured" else ON_JOINTS


def decide_sides(tracks: List[Track], side_crops: Dict[int, List[tuple]], net, settings: JobSettings,
                 k: np.ndarray, device: torch.device, emit: Emit) -> List[Track]:
    """Each track's side by geometry and the detector's vote (``inference/side.py``); logs the evidence."""
    right_model = find_hand_model("right", settings.mano_dir or None, settings.hand_model)
    models = {"right": right_model, "left": find_hand_model("left", settings.mano_dir or None, settings.hand_model)}
    size = net.config.image_size
    evidence: Dict[int, SideEvidence] = {}
    for n, t in enumerate(tracks):
        frames = sample_frames([f for f, found in side_crops.items()
                                if f in t.detections and any(d is t.detections[f] for d, *_ in found)], SIDE_FIT_FRAMES)
        if not frames:
            continue
        picked = [next(c for c in side_crops[f] if c[0] is t.detections[f]) for f in frames]
        outputs = predict_independent(net, np.stack([normalise(c[1]) for c in picked] +
                                                    [normalise(c[2]) for c in picked]), device)
        gaps = {}
        for h, side in enumerate(("right", "left")):
            records = []
            for i, (f, (det, *_)) in enumerate(zip(frames, picked)):
                j = h * len(frames) + i
                affine = crop_affine(det.box, size, mirror=side == "left")
                o = outputs[j]
                hands = place_hands(o.pose, o.betas, o.joints2d, affine, side == "left", det, models[side], k)
                records.append({"frame": f, "times": [hands[len(hands) // 2]], "keypoints": det.keypoints,
                                "kp_weight": np.ones(21), "world": det.world})
            fit = fit_frames(records, models[side], right_model, k,
                             dataclasses.replace(SIDE_FIT, keypoint_offsets=offsets(settings)), device)
            gaps[side] = orientation_gap_deg(fit.pose[:, :3], np.stack([r["times"][0]["pose"][:3] for r in records]))
        evidence[n] = weigh_evidence(gaps, t.votes())
        t.side = evidence[n].side
        level = "warning" if evidence[n].uncertain else "info"
        emit("log", {"level": level, "message": f"hand {n + 1} is the {evidence[n].describe()}" +
                     ("; the side is uncertain: choose it if you know it" if evidence[n].uncertain else "")})
    strength = {id(tracks[n]): abs(ev.combined) for n, ev in evidence.items()}
    return one_track_per_side(tracks, lambda t: strength.get(id(t), 0.0))


def side_network(net, right_model: HandModel, device: torch.device, emit: Emit):
    """The network whose orientation weighs in on each track's side: the default checkpoint's. The video
    models' global orientation is too loose for it (on the evaluation clips their runs took the wrong side on
    about half the clips, where BlurHandNet's took none); S2HAND's and AMVUR's were not measured for it."""
    from .catalog import DEFAULT_MODEL, ModelUnavailable

    if net.model_name == DEFAULT_MODEL:
        return net
    from .models.output import load_model

    try:
        side_net = load_model(resolve_checkpoint(DEFAULT_MODEL), hand_model=right_model).to(device)
    except ModelUnavailable:
        return net
    emit("log", {"message": f"the side of each hand is weighed with {DEFAULT_MODEL}'s orientation"})
    return side_net


def reads_keypoints(settings: JobSettings, has_keypoints: bool) -> bool:
    """Whether the job runs the keypoint network: the fit runs, on its keypoints, and hands were detected."""
    return settings.refine == "keypoints" and settings.keypoint_source != "mediapipe" and has_keypoints


def make_fitter(settings: JobSettings, model: HandModel, right_model: HandModel, k: np.ndarray,
                device: torch.device, has_keypoints: bool) -> Optional[TrackFitter]:
    """The fitting stage for one hand, or None (``refine off``, or no keypoints to fit: a fixed region)."""
    if settings.refine != "keypoints" or not has_keypoints:
        return None
    # The keypoint network was trained on MANO's joints: the detector's offsets are not its convention.
    seen_along = ON_JOINTS if settings.keypoint_source == "network" else offsets(settings)
    fit = dataclasses.replace(FitSettings().scaled(settings.refine_strength), keypoint_offsets=seen_along)
    if settings.keypoint_source == "network":
        fit = dataclasses.replace(fit, weights=network_weights(fit.weights))
    if settings.fit_window:  # shorter windows: the first keys arrive sooner; each window shares a sixth
        fit = dataclasses.replace(fit, window=settings.fit_window, overlap=max(2, settings.fit_window // 6))
    return TrackFitter(model, right_model, k, fit, device)


def network_weights(weights: FitWeights) -> FitWeights:
    """The fit's weights for the keypoint network's points: the straight prior (README: A finger is straight
    until shown bent) and no mirror-labelled readings (the network reads each crop as the track's side, so its
    labels are never a mirror image's; the same scores with 5 starting candidates a frame instead of 9)."""
    return dataclasses.replace(weights, straight=NETWORK_STRAIGHT, flip_cost=-1.0)


def resolve_keypoint_source(settings: JobSettings, emit: Emit) -> JobSettings:
    """``auto`` -> ``network`` where the keypoint network's checkpoint is installed, else ``mediapipe`` (said in the
    log): on the evaluation clips the network's points fit closer on every mean score (README: The network reads
    a tighter crop), and a job asked for ``network`` outright still stops without its checkpoint."""
    if settings.keypoint_source != "auto":
        return settings
    path = checkpoint_dir() / KEYPOINT_CHECKPOINT
    if path.is_file():
        return dataclasses.replace(settings, keypoint_source="network")
    emit("log", {"level": "warning", "message": f"no keypoint network at {path}: the fit uses MediaPipe's keypoints "
                                                "(give --keypoints mediapipe to say so)"})
    return dataclasses.replace(settings, keypoint_source="mediapipe")


def run_job(settings: JobSettings, job_dir: str | Path, emit: Emit = lambda kind, fields: None,
            cancelled: Callable[[], bool] = lambda: False) -> JobResult:
    settings.validate()
    settings = resolve_keypoint_source(settings, emit)
    job_dir = Path(job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    ckpt = resolve_checkpoint(settings.model, settings.checkpoint or None)  # fails before any decoding
    footage = Footage(settings.video)
    start, end = footage.frame_range(settings.frame_start, settings.frame_end)
    info = footage.info
    total = end - start + 1
    k = intrinsics_from_fov(info.width, info.height, settings.fov_deg)
    seconds = {"decode": 0.0, "detect": 0.0, "model": 0.0, "post": 0.0}

    def check_cancel():
        if cancelled():
            raise JobCancelled("cancelled")

    from .models.output import load_model
    device = pick_device(settings.device)
    right_model = find_hand_model("right", settings.mano_dir or None, settings.hand_model)
    net = load_model(ckpt, hand_model=right_model).to(device)
    cfg = net.config
    size = cfg.image_size
    region = np.array(settings.region, dtype=np.float64) if settings.region else None
    keypoint_net = load_keypoint_network(device=device) if reads_keypoints(settings, region is None) else None

    # Pass 1: hands found (and a few crops kept for the side decision).
    side_net = side_network(net, right_model, device, emit) if len(settings.hands) != 1 and not settings.region \
        else net
    side_size = side_net.config.image_size
    detector = make_detector(region, side=(settings.hands or ["right"])[0], search=settings.search,
                             scales=settings.search_scales, max_hands=2 if len(settings.hands) != 1 else 1)
    found = []
    side_crops: Dict[int, List[tuple]] = {}  # frame -> [(detection, crop)] on every step-th frame
    step = max(1, total // SIDE_SAMPLE_FRAMES)
    try:
        tick = time.perf_counter()
        for n, (index, rgb) in enumerate(footage.frames(start, end)):
            now = time.perf_counter()
            seconds["decode"] += now - tick
            found.append(detector(rgb))
            tick = time.perf_counter()
            seconds["detect"] += tick - now
            if n % step == 0 and found[-1] and found[-1][0].has_keypoints:
                side_crops[index] = [(d, crop_image(rgb, d.box, side_size),
                                      crop_image(rgb, d.box, side_size, mirror=True)) for d in found[-1]]
            if n % 5 == 0 or n == total - 1:
                emit("progress", {"stage": "detect", "done": n + 1, "total": total})
                check_cancel()
            if len(side_crops) > 2 * SIDE_SAMPLE_FRAMES:  # a header that under-reports: thin them out
                side_crops = dict(list(side_crops.items())[::2])
    finally:
        detector.close()
    if footage.ended_early_at is not None:
        if not found:
            raise FootageError(f"{info.path}: no frame could be decoded from frame {start} on, although the "
                               f"header gives {info.frame_count} frames (a cut or damaged file?)")
        end = start + len(found) - 1
        emit("log", {"level": "warning", "message": f"the footage ended at frame {end}, before the "
                     f"{info.frame_count} frames its header gives (a cut or damaged file?); frames after {end} "
                     "get no key"})
        total = len(found)
    if settings.search and region is None:
        counts = source_counts(found)
        emit("log", {"message": f"hands found in {sum(bool(f) for f in found)} of {len(found)} frames: by the palm "
                     f"detector in {counts['palm']}, by tracking a lost hand's crop in {counts['track']}, by the "
                     f"tiled search in {counts['search']}"})
    if len(settings.hands) == 1:
        tracks = build_tracks(one_hand(found, settings.hands[0]), first_frame=start, max_hands=1)
    else:
        tracks = build_tracks(found, first_frame=start)
    if not tracks:
        raise NoHandFound(f"{info.path}: no {' or '.join(settings.hands) or ''} hand found in frames "
                          f"{start}..{start + len(found) - 1}".replace("  ", " "))

    if len(settings.hands) != 1 and region is None:  # the user did not say which hand: geometry decides
        tick = time.perf_counter()
        tracks = decide_sides(tracks, side_crops, side_net, settings, k, device, emit)
        seconds["side"] = time.perf_counter() - tick
    del side_crops
    tracks = select_hands(tracks, settings.hands)
    if not tracks:
        raise NoHandFound(f"{info.path}: no {' or '.join(settings.hands)} hand found in frames "
                          f"{start}..{start + len(found) - 1}")
    seen = set().union(*(t.detections for t in tracks))
    missing = [f for f in range(start, start + len(found)) if f not in seen]
    if missing:
        emit("log", {"message": f"{len(missing)} frame(s) without a hand get no key: {_ranges(missing)}"})

    # Pass 2: the model, one runner per hand (in frame order: batches, a carried state, or sliding windows).
    models = {t.side: find_hand_model(t.side, settings.mano_dir or None, settings.hand_model) for t in tracks}
    boxes = {t.side: smooth_boxes(t) for t in tracks}
    seen_by = {t.side: t.detections for t in tracks}
    fitters = {t.side: make_fitter(settings, models[t.side], right_model, k, device, region is None) for t in tracks}
    streams = {t.side: HandStream(settings, info.fps, fitters[t.side]) for t in tracks}
    runners = {t.side: make_runner(net, device, settings.batch_size, settings.window, settings.window_stride)
               for t in tracks}
    readers = {t.side: KeypointReader(keypoint_net, device, settings.batch_size) for t in tracks} \
        if keypoint_net is not None else {}
    colours = {t.side: NetworkColours(models[t.side].f, total) if settings.skin == "network" else None
               for t in tracks}
    affines: Dict[str, Dict[int, np.ndarray]] = {t.side: {} for t in tracks}  # crops in a runner, not yet out
    samples: Dict[str, List[dict]] = {t.side: [] for t in tracks}
    chunk = 0

    def publish(side: str, new: List[dict]):
        nonlocal chunk
        if not new:
            return
        samples[side].extend(new)
        seq = to_sequence(new, side, info.fps, settings.model, k, (info.width, info.height), info.path)
        path = job_dir / f"{side}_chunk{chunk:05d}.npz"
        chunk += 1
        seq.save(path)
        emit("partial", {"hand": side, "path": str(path), "frames": [float(f) for f in seq.frames]})

    last_pushed = {side: start - 1 for side in streams}

    def _advance(stream: HandStream, side: str, frame: int, result: dict) -> List[dict]:
        out = []
        for f in range(last_pushed[side] + 1, frame):  # frames this hand was not seen in
            out += stream.push(f, None)
        out += stream.push(frame, result)
        last_pushed[side] = frame
        return out

    def take(side: str, outputs: List[FrameOutput]) -> None:
        """The runner's finished frames -> placed hands -> the stream (fitting, ordering, smoothing) -> chunks."""
        now = time.perf_counter()
        fitting_before, reading_before = _fit_seconds(fitters), seconds.get("keypoints", 0.0)
        new = []
        for o in outputs:
            det = seen_by[side][o.frame]
            kp_weight, depth = np.full(21, 1.0 if det.has_keypoints else 0.0), {}
            placed_by = det  # the detector's keypoints place the hand (the network's where the detector has none)
            if side in readers:
                reading = time.perf_counter()
                read = readers[side].take(o.frame)
                seconds["keypoints"] = seconds.get("keypoints", 0.0) + time.perf_counter() - reading
                if settings.keypoint_source == "network":
                    # the network's 2D points are fitted, every one alike and without its depths: on the evaluation
                    # clips its expected errors as weights, its depths, or placing the hand on its points each cost
                    # finger curl (README: A keypoint network of our own)
                    fitted = dataclasses.replace(det, keypoints=read.keypoints)
                    placed_by = det if det.has_keypoints else fitted
                    det, kp_weight = fitted, np.ones(21)
                else:  # "depth": MediaPipe's 2D points, the network's depths
                    depth = {"depth": read.depth, "depth_weight": read.depth_weight}
            times = place_hands(o.pose, o.betas, o.joints2d, affines[side].pop(o.frame), side == "left", placed_by,
                                models[side], k, o.joint_variance)
            if colours[side] is not None and o.colours is not None:
                mid = len(o.colours) // 2
                colours[side].add(o.colours[mid], None if o.visible is None else o.visible[mid])
            result = {"frame": o.frame, "times": times, "score": det.score, "keypoints": det.keypoints,
                      "world": det.world, "kp_weight": kp_weight, **depth}
            new += _advance(streams[side], side, o.frame, result)
        seconds["post"] += time.perf_counter() - now - (_fit_seconds(fitters) - fitting_before) \
            - (seconds.get("keypoints", 0.0) - reading_before)  # "fit" and "keypoints" have their own
        publish(side, new)

    tick = time.perf_counter()
    for n, (index, rgb) in enumerate(footage.frames(start, end)):
        seconds["decode"] += time.perf_counter() - tick
        for side in streams:
            box = boxes[side].get(index)
            if box is None:
                continue
            mirrored = side == "left"
            affines[side][index] = crop_affine(box, size, mirror=mirrored)
            if side in readers:
                reading = time.perf_counter()
                readers[side].push(index, rgb, box, mirrored)
                seconds["keypoints"] = seconds.get("keypoints", 0.0) + time.perf_counter() - reading
            take(side, runners[side].push(index, normalise(crop_image(rgb, box, size, mirror=mirrored))))
        if n % settings.batch_size == settings.batch_size - 1:
            emit("progress", {"stage": "model", "done": n + 1, "total": total})
            check_cancel()
        tick = time.perf_counter()
    for side, runner in runners.items():
        take(side, runner.flush())
    seconds["model"] = sum(r.seconds for r in runners.values())
    paths = {}
    for side, stream in streams.items():
        tail = []
        for f in range(last_pushed[side] + 1, end + 1):
            tail += stream.push(f, None)
        publish(side, tail + stream.flush())
        if samples[side]:
            seq = to_sequence(samples[side], side, info.fps, settings.model, k, (info.width, info.height), info.path)
            if settings.skin == "footage":
                check_cancel()
                tick = time.perf_counter()
                found = footage_colours(footage.frames(start, end), seq, models[side], settings.first_blender_frame)
                seq.vertex_colors = found.colours
                seconds["colours"] = seconds.get("colours", 0.0) + time.perf_counter() - tick
                emit("log", {"message": f"the {side} hand's colours come from {found.frames} frames of the footage; "
                             f"{(found.seen > 0).mean():.0%} of its skin was seen, the rest is filled from "
                             "its neighbours"})
            if colours[side] is not None:
                found = colours[side].result()
                seq.vertex_colors = found.colours
                emit("log", {"message": f"the {side} hand's colours are {settings.model}'s own, from {found.frames} "
                             f"frames; {(found.seen > 0).mean():.0%} of its skin was seen by the network, the rest "
                             "is filled from its neighbours"})
            paths[side] = str(seq.save(job_dir / f"{side}.npz"))
            depth = np.median(seq.transl[:, 2] + models[side].rest_joints(seq.betas[0])[0, 2])
            emit("log", {"message": f"the {side} hand's wrist is {depth:.2f} m from the camera (median) at a "
                         f"{settings.fov_deg:g} degree field of view: its distance scales with the field of view, "
                         "which the keypoints cannot tell; give --fov if you know the lens"})
    emit("progress", {"stage": "model", "done": total, "total": total})
    seconds["fit"] = _fit_seconds(fitters)
    return JobResult(paths, missing, seconds)


def _fit_seconds(fitters: Dict[str, Optional[TrackFitter]]) -> float:
    return sum(f.seconds for f in fitters.values() if f is not None)


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
