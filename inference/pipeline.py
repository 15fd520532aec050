"""Footage -> motion sequences: the worker's job, also run directly by ``python -m inference run``.

One streaming pass over the footage, in named stages, each timed by one
:class:`~inference.stage_timer.StageTimer`:

1. **read**: open the footage (``video.py``) and load the networks;
2. **decode** and **detect**: frames and the hands in them, on a thread of their own a few frames ahead of the
   rest (``frame_source.py``, ``detect.py``), joined into tracks as they come (``tracking.py``);
3. **side**: once a track has been seen long enough, which hand it is and which keypoints its fit follows
   (``side.py``);
4. per hand (``hand_pass.py``, on lanes of its own: ``hand_lane.py``): **model** (the network on the hand's
   crops), **keypoints** (the keypoint network, where the fit follows its points), **place**, **fit** (``fit/``)
   and **stream** (``hand_stream.py``): keys written as chunk files as soon as they are final (``streaming.py``);
5. **colours** (optional) and **save**: the complete sequence per hand.

Detection starts (MediaPipe loads) before torch is imported and runs beside the other stages, as each hand's
lanes run beside each other, so the stages' seconds add up to more than the job's. Until the first keys are
out, the detector waits once it is far enough ahead (``streaming.first_keys_hold``). Memory stays flat with the
footage's length: frames wait only until their hands' boxes and sides are known.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List

import numpy as np

from addon.common.hand_model import find_hand_model
from addon.common.job_options import JobOptions

from .camera import intrinsics_from_fov
from .catalog import resolve_checkpoint
from .detect import make_detector
from .frame_source import FrameSource
from .job_context import Emit, JobCancelled, JobContext
from .video import Footage, FootageError

__all__ = ["run_job", "JobResult", "NoHandFound", "JobCancelled"]


class NoHandFound(RuntimeError):
    """No hand of the requested sides anywhere in the frame range."""


@dataclass
class JobResult:
    paths: Dict[str, str]  # side -> complete motion-sequence file
    frames_without_hand: List[int]
    seconds: Dict[str, float]  # per stage (the stage timer's names)


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
        if start == end:  # a photo: one key, at the frame (no exposure to unfold)
            options = dataclasses.replace(options, exposure=0.0)
        k = intrinsics_from_fov(info.width, info.height, options.fov_deg)
        region = np.array(options.region, dtype=np.float64) if options.region else None
    # Detection starts (MediaPipe loads on its thread) while torch and the networks load here.
    source = FrameSource(footage, start, end, lambda: make_detector(
        region, side=options.hands[0], search=options.search, scales=options.search_scales,
        max_hands=2 if len(options.hands) != 1 else 1))
    job = None
    try:
        # Importing holds Python's lock: MediaPipe's import and torch's at once take turns on it, while the
        # detector's work, which mostly releases it, overlaps torch's import well. So MediaPipe loads first.
        while not source.ready.wait(0.1):
            ctx.check_cancel()
        with timer("read"):
            from .streaming import ChunkWriter, Networks, StreamingJob, pick_device, save_sequence

            device = pick_device(options.device)
            models = {side: find_hand_model(side, options.mano_dir or None, options.hand_model)
                      for side in ("right", "left")}
            nets = Networks(options, models["right"], device, region is None, ctx)
        total = end - start + 1
        writer = ChunkWriter(job_dir, info, options.model, k, ctx)
        job = StreamingJob(options, nets, models, k, device, info, total, region, writer, ctx,
                           detecting=lambda: not source.finished.is_set())
        source.hold = job.holds_detector
        last = start - 1
        for n, (index, rgb, found) in enumerate(source):
            job.frame(index, rgb, found)
            last = index
            if n % 5 == 0 or index == end:
                ctx.progress("hands", n + 1, total)
        if footage.ended_early_at is not None:
            if last < start:
                raise FootageError(f"{info.path}: no frame could be decoded from frame {start} on, although the "
                                   f"header gives {info.frame_count} frames (a cut or damaged file?)")
            ctx.log(f"the footage ended at frame {last}, before the {info.frame_count} frames its header gives (a cut "
                    f"or damaged file?); frames after {last} get no key", "warning")
        sequences = job.finish(last)
    finally:
        if job is not None:
            job.stop()
        source.stop()
        timer.seconds.update(source.seconds)
    if options.search and region is None:
        counts = {s: sum(1 for f in range(start, last + 1) if any(
            h.track.detections.get(f) is not None and h.track.detections[f].source == s for h in job.hands))
            for s in ("palm", "track", "search")}
        ctx.log(f"hands found in {len(job.seen())} of {last - start + 1} frames: by the palm detector in "
                f"{counts['palm']}, by following a hand's crop in {counts['track']}, by the tiled search in "
                f"{counts['search']}")
    if not sequences:
        raise NoHandFound(f"{info.path}: no {' or '.join(options.hands)} hand found in frames {start}..{last}")
    missing = [f for f in range(start, last + 1) if f not in job.seen()]
    if missing:
        ctx.log(f"{len(missing)} frame(s) without a hand get no key: {_ranges(missing)}")
    paths = {}
    for side, seq in sequences.items():
        if options.skin == "footage":
            from .footage_colours import footage_colours

            ctx.check_cancel()
            with timer("colours"):
                found_colours = footage_colours(footage.frames(start, last), seq, models[side],
                                                options.first_blender_frame)
            seq.vertex_colors = found_colours.colours
            ctx.log(f"the {side} hand's colours come from {found_colours.frames} frames of the footage; "
                    f"{(found_colours.seen > 0).mean():.0%} of its skin was seen, the rest is filled from its "
                    "neighbours")
        own = job.colours(side)
        if own is not None:
            result = own.result()
            seq.vertex_colors = result.colours
            ctx.log(f"the {side} hand's colours are {options.model}'s own, from {result.frames} frames; "
                    f"{(result.seen > 0).mean():.0%} of its skin was seen by the network, the rest is filled from "
                    "its neighbours")
        with timer("save"):
            paths[side] = str(save_sequence(seq, job_dir / f"{side}.npz"))
        depth = np.median(seq.transl[:, 2] + models[side].rest_joints(seq.betas[0])[0, 2])
        ctx.log(f"the {side} hand's wrist is {depth:.2f} m from the camera (median) at a {options.fov_deg:g} degree "
                "field of view: its distance scales with the field of view, which the keypoints cannot tell; give "
                "--fov if you know the lens")
    emit("progress", {"stage": "hands", "done": last - start + 1, "total": last - start + 1})
    return JobResult(paths, missing, timer.rounded())


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
