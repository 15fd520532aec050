"""The per-frame part of a job: the networks, the tracks as they become hands, and each hand's frames through
the networks, the fit and into chunk files (``pipeline.py`` runs it; this module is where torch comes in)."""
from __future__ import annotations

import dataclasses
import functools
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from addon.common.hand_model import HandModel
from addon.common.job_options import JobOptions
from addon.common.motion_sequence import MotionSequence, concatenate

from . import failpoints
from .catalog import DEFAULT_MODEL, KEYPOINT_CHECKPOINT, ModelUnavailable, checkpoint_dir, resolve_checkpoint
from .crop import crop_image
from .detect import Detection
from .fit import FitSettings, FitWeights, TrackFitter
from .footage_colours import NetworkColours
from .hand_lane import HandLane
from .hand_pass import HandPass
from .hand_stream import HandStream, to_sequence
from .job_context import JobContext
from .keypoint_reader import KeypointReader, load_keypoint_network
from .models.blocks import fold_batchnorm
from .records import Sample
from .runners import make_runner
from .side import SideCrop, side_evidence
from .stage_timer import StageTimer
from .tracking import SMOOTH_REACH, OnlineTracker, Track, confirm_frames

BATCH_SIZE = 8  # crops per network call
# A track's side is decided once it has been seen in this many frames, or this many frames after it appeared,
# or at the footage's end: enough for its labels and geometry to speak, soon enough for the first keys.
DECIDE_AFTER, DECIDE_WITHIN = 16, 48
# Until the first keys are out, the detector waits this many frames past the first hand's first window while the
# hand network has frames to read: the cores go to that window, not to frames it does not need yet.
FIRST_KEYS_LEAD = 16
# MediaPipe's labels must agree with a hand's side this much (Track.label_evidence, towards the side) for the fit
# to follow its keypoints: on the real photos they agree at +0.5 to +1, on the project's renders below 0.
MEDIAPIPE_READS_IT = 0.4
# The fit's price of a bent finger with the keypoint network's points (FitWeights.straight); with MediaPipe's it
# stays off, where it fitted a fist as a flat hand turned towards the camera (docs/fitting.md).
NETWORK_STRAIGHT = 1.0


def first_keys_hold(index: int, first_frame: int, need: int, seen: int, taken_in: int, network_busy: bool) -> bool:
    """Whether the detector waits before frame ``index`` until the first keys are out: it is ``FIRST_KEYS_LEAD``
    past the ``need`` frames from ``first_frame`` that the first hand's first keys need, the hand network has
    frames to read, and the job has not found the hand too seldom to fill that window (``seen`` times in the
    frames up to ``taken_in``, the latest it took in; until it catches up with the detector, it may yet)."""
    if index <= first_frame + need - 1 + FIRST_KEYS_LEAD or not network_busy:
        return False
    return taken_in < index - 1 or seen >= need


def share_cores(busy: int) -> int:
    """Torch's threads per operation for a thread that shares the CPU with ``busy`` others computing (OpenMP's
    threads spin while they wait, so more threads than cores slow everything); 0 where ``OMP_NUM_THREADS``
    decides."""
    return 0 if "OMP_NUM_THREADS" in os.environ else max(1, (os.cpu_count() or 1) // (max(0, busy) + 1))


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
    if options.fit_window:  # one window length throughout; each window shares a sixth
        fit = dataclasses.replace(fit, window=options.fit_window, first_window=options.fit_window,
                                  overlap=max(2, options.fit_window // 6))
    return fit


def network_weights(weights: FitWeights) -> FitWeights:
    """The fit's weights for the keypoint network's points: the straight prior, and no mirror-labelled readings
    (the network reads each crop as the track's side, so its labels are never a mirror image's)."""
    return dataclasses.replace(weights, straight=NETWORK_STRAIGHT, flip_cost=-1.0)


def for_inference(net: torch.nn.Module) -> torch.nn.Module:
    """The network as the job runs it: BatchNorm folded into the convolutions, weights channels-last (the
    convolutions' fast layout on the CPU; ``Runner`` feeds it channels-last crops)."""
    return fold_batchnorm(net.eval()).to(memory_format=torch.channels_last)


class Networks:
    """The job's networks on its device: the chosen model, the one that weighs in on the sides, and the
    keypoint network where the fit follows its points."""

    def __init__(self, options: JobOptions, right_model: HandModel, device: torch.device, detected: bool,
                 ctx: JobContext):
        from .models.output import load_model

        self.net = for_inference(load_model(resolve_checkpoint(options.model, options.checkpoint or None),
                                            hand_model=right_model).to(device))
        self.side_net = self.net
        if len(options.hands) != 1 and detected and self.net.model_name != DEFAULT_MODEL:
            # The video models' global orientation is too loose to weigh the sides with: the default's decides.
            try:
                self.side_net = for_inference(load_model(resolve_checkpoint(DEFAULT_MODEL),
                                                         hand_model=right_model).to(device))
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


@dataclass(eq=False)
class Hand:
    """A track on its way through the job: the crops its side is decided on, then its side, its keypoints'
    source and the next of its frames to hand on."""

    track: Track
    number: int
    crops: Dict[int, SideCrop] = dataclasses.field(default_factory=dict)
    side: str = ""  # empty until decided
    source: str = ""
    next: int = 0


class StreamingJob:
    """Frames in, in order, with the hands found in them; keys out as soon as they are final."""

    def __init__(self, options: JobOptions, nets: Networks, models: Dict[str, HandModel], k: np.ndarray,
                 device: torch.device, info, total: int, region: Optional[np.ndarray], writer: "ChunkWriter",
                 ctx: JobContext, detecting: Callable[[], bool] = lambda: False):
        """``detecting``: whether the detector's thread is still at work (it shares the CPU until then)."""
        self.options, self.nets, self.models, self.k, self.device = options, nets, models, k, device
        self.detecting = detecting
        threads = share_cores(busy=1) if self.device.type == "cpu" else 0  # the side decision, beside detection
        if threads:
            torch.set_num_threads(threads)
        self.info, self.total, self.region, self.writer, self.ctx = info, total, region, writer, ctx
        one = len(options.hands) == 1
        self.tracker = OnlineTracker(max_hands=1 if one else 2, confirm=confirm_frames(total), one_hand=one)
        self.hands: List[Hand] = []
        self.lanes: Dict[str, HandLane] = {}  # per side, continued by a later track of the same side
        self.holder: Dict[str, Hand] = {}  # the hand whose frames a side's pass takes now
        self.frames: Dict[int, np.ndarray] = {}  # frames still needed
        self.known: set = set()  # ids of the tracks already taken in
        self.side_size = nets.side_net.config.image_size
        self.first_window: Optional[tuple] = None  # (the first track with a lane, frames its first keys need, the lane)
        self.last_frame = -1  # the latest frame taken in

    # -- per frame ---------------------------------------------------------------------------------------
    def frame(self, index: int, rgb: np.ndarray, found: List[Detection]) -> None:
        self.frames[index] = rgb
        self.last_frame = index
        self.tracker.update(index, found)
        for track in self.tracker.tracks:
            if id(track) not in self.known:
                self.known.add(id(track))
                self.hands.append(Hand(track, 0))
        for hand in self.hands:
            if not hand.side and index in hand.track.detections and len(hand.crops) < DECIDE_AFTER:
                d = hand.track.detections[index]
                if d.has_keypoints and len(self.options.hands) != 1:
                    hand.crops[index] = SideCrop(d, crop_image(rgb, d.box, self.side_size),
                                                 crop_image(rgb, d.box, self.side_size, mirror=True))
        self._decide([h for h in self._undecided(index) if self._ready(h, index)])
        for hand in self.hands:
            if hand.side:
                self._hand_on(hand, index - SMOOTH_REACH if index - hand.track.last_frame <= SMOOTH_REACH
                              else hand.track.last_frame)
        self._forget(index)

    def finish(self, last: int) -> Dict[str, MotionSequence]:
        """The footage ended at frame ``last``: every hand decided and handed on, the passes flushed."""
        self._decide(self._undecided(last + self.tracker.max_gap + 1, ended=True))
        for hand in self.hands:
            if hand.side:
                self._hand_on(hand, hand.track.last_frame)
        for lane in self.lanes.values():  # every lane told first: they finish side by side
            lane.end(last)
        for lane in self.lanes.values():
            lane.wait()
        for lane in self.lanes.values():
            p = lane.hand_pass
            for timer in (p.read_timer, p.keypoint_timer, p.fit_timer):
                for stage, seconds in timer.seconds.items():
                    self.ctx.timer.seconds[stage] = self.ctx.timer.seconds.get(stage, 0.0) + seconds
        return {side: seq for side, seq in ((side, self.writer.whole(side)) for side in self.lanes) if seq is not None}

    def stop(self) -> None:
        """The lanes' threads ended (after ``finish``, or early on an error or a cancel)."""
        for lane in self.lanes.values():
            lane.stop()

    def colours(self, side: str) -> Optional[NetworkColours]:
        """The network's own colours of ``side``'s hand, where the model gives them."""
        return self.lanes[side].hand_pass.colours

    # -- deciding ----------------------------------------------------------------------------------------
    def _undecided(self, index: int, ended: bool = False) -> List[Hand]:
        """Hands not yet decided; glitches (tracks that died before they were seen enough) dropped."""
        keep, out = [], []
        for hand in self.hands:
            dead = ended or index - hand.track.last_frame > self.tracker.max_gap
            if not hand.side and dead and not self.tracker.is_hand(hand.track):
                continue  # a glitch: gone
            keep.append(hand)
            if not hand.side:
                out.append(hand)
        self.hands = keep
        return out

    def _ready(self, hand: Hand, index: int) -> bool:
        t = hand.track
        return self.tracker.is_hand(t) and (len(t.detections) >= DECIDE_AFTER or index - t.first_frame >= DECIDE_WITHIN)

    def _decide(self, ready: List[Hand]) -> None:
        if not ready:
            return
        if len(self.options.hands) == 1:  # the user said which hand: every track is it
            for hand in ready:
                self._assign(hand, self.options.hands[0], None)
            return
        with self.ctx.timer("side"):
            others = [h.track for h in self.hands]
            evidence = {id(h): side_evidence(h.track, h.crops, [t for t in others if t is not h.track],
                                             self.nets.side_net, self.models, self.k, self.device) for h in ready}
            for hand in sorted(ready, key=lambda h: -abs(evidence[id(h)].combined)):  # the surest first
                ev = evidence[id(hand)]
                side = ev.side if self._free(ev.side, hand) else "left" if ev.side == "right" else "right"
                if not self._free(side, hand):
                    self.ctx.log(f"a third hand from frame {hand.track.first_frame} on is left out")
                    hand.track.detections.clear()
                    continue
                self._assign(hand, side, ev)

    def _free(self, side: str, hand: Hand) -> bool:
        """No other hand holds ``side`` in frames this one is seen in."""
        holder = self.holder.get(side)
        return holder is None or not (set(holder.track.detections) & set(hand.track.detections)) and \
            holder.track.last_frame < hand.track.first_frame

    def _assign(self, hand: Hand, side: str, evidence) -> None:
        hand.number = sum(1 for h in self.hands if h.side) + 1
        hand.side, hand.next, hand.track.side = side, hand.track.first_frame, side
        hand.crops.clear()
        if evidence is not None:
            uncertain = evidence.uncertain
            self.ctx.log(f"hand {hand.number} is the {evidence.describe()}" +
                         ("; the side is uncertain: choose it if you know it" if uncertain else ""),
                         "warning" if uncertain else "info")
        fits = self.options.refine == "keypoints" and self.region is None
        hand.source = keypoint_source(hand.track, self.options, self.ctx, hand.number) if fits else ""
        if side not in self.lanes:
            with self.ctx.timer("read"):
                p = hand_pass(side, hand.source, self.options, self.nets, self.models[side], self.models["right"],
                              self.k, self.device, self.info.fps, self.total)
                self.lanes[side] = HandLane(p, functools.partial(self.writer.add, side, timer=p.fit_timer),
                                            self.ctx.check_cancel, self._read_threads)
                if self.first_window is None:
                    need = p.stream.fitter.first_window if p.stream.fitter else BATCH_SIZE
                    self.first_window = (hand.track, need, self.lanes[side])
        self.holder[side] = hand

    def holds_detector(self, index: int) -> bool:
        """Whether the detector waits before frame ``index`` (asked on its thread): ``first_keys_hold``; never
        once the job is cancelled (its thread may be waiting for the next frame, where it answers the cancel)."""
        if self.first_window is None or self.writer.count or self.ctx.cancelled():
            return False
        track, need, lane = self.first_window
        return first_keys_hold(index, track.first_frame, need, len(track.detections), self.last_frame, lane.busy())

    def _read_threads(self) -> int:
        """Torch's threads for a lane's networks now: the cores shared with the other lanes' networks and the
        detector while it runs (0 off the CPU)."""
        if self.device.type != "cpu":
            return 0
        reading = sum(1 + (lane.hand_pass.reader is not None) for lane in self.lanes.values())
        return share_cores(busy=max(0, reading - 1) + self.detecting())

    # -- handing frames on -------------------------------------------------------------------------------
    def _hand_on(self, hand: Hand, upto: int) -> None:
        """Frames of ``hand`` up to ``upto`` (whose smoothed boxes are final) to its side's pass."""
        lane = self.lanes[hand.side]
        for f in range(hand.next, upto + 1):
            if f in hand.track.detections:
                lane.push(f, self.frames[f], hand.track.detections[f], hand.track.smoothed_box(f))
        hand.next = max(hand.next, upto + 1)

    def _forget(self, index: int) -> None:
        """Frames no hand will ask for again."""
        needed = [h.next if h.side else h.track.first_frame for h in self.hands
                  if not h.side or h.next <= h.track.last_frame]
        oldest = min(needed + [index - SMOOTH_REACH])
        for f in [f for f in self.frames if f < oldest]:
            del self.frames[f]

    def seen(self) -> set:
        return set().union(*(set(h.track.detections) for h in self.hands if h.side)) if self.hands else set()


def hand_pass(side: str, source: str, options: JobOptions, nets: Networks, model: HandModel,
              right_model: HandModel, k: np.ndarray, device: torch.device, fps: float, total: int) -> HandPass:
    """One hand's pass, with the fit on ``source``'s keypoints where it runs (empty: no fit)."""
    fitter = TrackFitter(model, right_model, k, fit_settings(options, source), device) if source else None
    return HandPass(
        side, nets.net.config.image_size,
        make_runner(nets.net, device, BATCH_SIZE, options.window, options.window_stride),
        KeypointReader(nets.keypoint_network(), device, BATCH_SIZE) if source == "network" else None,
        model, k, HandStream(options, fps, fitter),
        NetworkColours(model.f, total) if options.skin == "network" else None)


class ResultsNotWritten(RuntimeError):
    """The job folder refused a results file (a full disk, a size limit, no permission)."""


def save_sequence(seq: MotionSequence, path: Path) -> Path:
    """``seq`` saved at ``path``; an operating system's refusal becomes a message that names the folder."""
    try:
        return seq.save(path)
    except OSError as exc:
        raise ResultsNotWritten(f"could not write the results to {path.parent}: {exc.strerror or exc}") from exc


class ChunkWriter:
    """Each batch of final keys as a chunk file in the job folder (announced with ``partial``), and the whole
    sequence per hand at the end, joined from the chunks' arrays (what the job keeps for the whole sequence:
    about 2 KB a footage frame). Each hand's lane adds from its own thread: one at a time."""

    def __init__(self, job_dir: Path, info, model: str, k: np.ndarray, ctx: JobContext):
        self.job_dir, self.info, self.model, self.k, self.ctx = job_dir, info, model, k, ctx
        self.chunks: Dict[str, List[MotionSequence]] = {}
        self.count = 0
        self.lock = threading.Lock()

    def add(self, side: str, new: List[Sample], timer: Optional[StageTimer] = None) -> None:
        """``timer``: the calling thread's stage timer (default: the job's)."""
        if not new:
            return
        with self.lock:
            seq = self._sequence(side, new)
            self.chunks.setdefault(side, []).append(seq)
            with (timer or self.ctx.timer)("save"):
                path = save_sequence(seq, self.job_dir / f"{side}_chunk{self.count:05d}.npz")
            failpoints.reached("chunk", path)
            self.count += 1
            self.ctx.emit("partial", {"hand": side, "path": str(path), "frames": [float(f) for f in seq.frames]})

    def whole(self, side: str) -> Optional[MotionSequence]:
        chunks = self.chunks.get(side)
        return concatenate(chunks) if chunks else None

    def _sequence(self, side: str, samples: List[Sample]) -> MotionSequence:
        return to_sequence(samples, side, self.info.fps, self.model, self.k, (self.info.width, self.info.height),
                           self.info.path)
