"""Apply a running worker job to the scene: one rig per hand (built whole or not at all), keys rewritten in
bulk as each partial result arrives, a camera matching the footage with the clip as its background.

Called on Blender's main thread only: by the modal operator's timer, or by batch mode's loop. Keys received
stay whatever happens next (cancel, worker crash, hang).
"""
from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional

import bpy
import numpy as np

from ..common import protocol as P
from ..common.hand_model import HandModelError, find_hand_model
from ..common.job_options import JobOptions
from ..common.motion_sequence import MotionSequence, MotionSequenceError, concatenate, load_motion_sequence
from ..common.worker_client import WorkerClient, WorkerFailure
from .animate import fit_scene_to, key_rig, rig_channels
from .confidence import add_confidence_overlay, key_confidence
from .importer import add_footage_camera
from .rig import HandRig, build_hand_rig, set_vertex_colours, undo_on_error


def new_job(video: str, options: JobOptions) -> P.Start:
    """A start message with a fresh id and job folder (under the system's temporary folder)."""
    job_id = uuid.uuid4().hex[:12]
    job_dir = Path(tempfile.gettempdir()) / "hand_mocap_jobs" / job_id
    return P.Start(job_id=job_id, video=os.path.abspath(video), job_dir=str(job_dir), options=options)


@dataclass
class HandTrack:
    rig: HandRig
    chunks: List[MotionSequence] = field(default_factory=list)

    def samples(self) -> int:
        return sum(len(c) for c in self.chunks)


class VideoImport:
    """State of one import; ``handle`` each event from :class:`WorkerClient` in order."""

    def __init__(self, start: P.Start, background: bool = True, show_confidence: bool = False):
        self.start, self.background = start, background
        self.show_confidence = show_confidence  # the confidence overlay on, where the model gives confidences
        self.hands: Dict[str, HandTrack] = {}
        self.camera: Optional[bpy.types.Object] = None
        self.stage, self.done_frames, self.total_frames = "starting", 0, 0
        self.finished = False
        self.error: Optional[str] = None
        self.error_log = ""
        self.messages: List[str] = []
        self.warnings: List[str] = []
        self.worker_log = ""  # the worker's stderr (its tail), kept when the job ends
        self.frames_without_hand: List[int] = []
        self.seconds: Dict[str, float] = {}

    # -- progress ---------------------------------------------------------------------------------------
    @property
    def fraction(self) -> float:
        """0..1: the footage's frames through the job (one streaming pass)."""
        return self.done_frames / self.total_frames if self.total_frames else 0.0

    def status(self) -> str:
        keys = sum(h.samples() for h in self.hands.values())
        return f"Hand Mocap: {self.stage} {self.done_frames}/{self.total_frames} frames, {keys} samples keyed " \
               "(Esc to cancel)"

    # -- events -----------------------------------------------------------------------------------------
    def handle(self, event: object, client: Optional[WorkerClient] = None) -> None:
        if isinstance(event, P.Hello):
            if client is not None:
                client.send(self.start)
            self.stage = "loading"
        elif isinstance(event, P.Progress):
            self.stage, self.done_frames, self.total_frames = event.stage, event.done, event.total
        elif isinstance(event, P.Partial):
            try:
                self._add(event)
            except (MotionSequenceError, HandModelError) as exc:  # a damaged chunk ends the job; earlier keys stay
                self.error = f"the worker's results could not be read: {exc}"
        elif isinstance(event, P.Log):
            self.messages.append(event.message)
            if event.level == "warning":
                self.warnings.append(event.message)
        elif isinstance(event, P.Done):
            self._colour(event.paths)
            self.finished = True
            self.frames_without_hand = list(event.frames_without_hand)
            self.seconds = dict(event.seconds)
        elif isinstance(event, P.Error):
            self.error, self.error_log = event.message, event.traceback
        elif isinstance(event, WorkerFailure):
            self.error, self.error_log = event.message, event.log

    @property
    def over(self) -> bool:
        return self.finished or self.error is not None

    def _add(self, event: P.Partial) -> None:
        seq = load_motion_sequence(event.path)
        track = self.hands.get(seq.handedness)
        if track is None:
            track = self.hands[seq.handedness] = HandTrack(self._build_rig(seq))
        track.chunks.append(seq)
        whole = concatenate(track.chunks)
        key_rig(track.rig, rig_channels(track.rig, whole.frames, whole.full_pose, whole.transl))
        if whole.joint_confidence is not None:
            key_confidence(track.rig, whole.frames, whole.joint_confidence)
            add_confidence_overlay(track.rig, self.show_confidence)  # once; later chunks find it there
        first = min(h.chunks[0].frames[0] for h in self.hands.values())  # chunks arrive in frame order
        last = max(h.chunks[-1].frames[-1] for h in self.hands.values())
        # the footage's own frames (sub-frame keys at the very ends may lie a fraction outside)
        fit_scene_to(bpy.context.scene, np.round([first, last]), seq.fps)

    def _colour(self, paths) -> None:
        """Footage colours (``--skin footage``) come with the complete sequences at the end of the job."""
        for path in paths:
            seq = load_motion_sequence(path)
            track = self.hands.get(seq.handedness)
            if seq.vertex_colors is not None and track is not None:
                set_vertex_colours(track.rig.mesh, seq.vertex_colors)

    def _build_rig(self, seq: MotionSequence) -> HandRig:
        options = self.start.options
        model = find_hand_model(seq.handedness, options.mano_dir or None, options.hand_model)
        name = "Hand.R" if seq.handedness == "right" else "Hand.L"
        scene = bpy.context.scene
        with undo_on_error():  # a rig is there whole, or not at all
            rig = build_hand_rig(model, seq.betas.mean(axis=0), name=name)
            rig.root["hand_mocap_model"] = seq.model
            rig.root["hand_mocap_source"] = self.start.video
            if self.camera is None:  # one camera for the footage; every rig's root is the same camera space
                self.camera = add_footage_camera(rig, seq.camera_matrix, seq.image_size, scene.collection)
                if self.background:
                    _footage_background(self.camera, self.start.video)
        return rig

    def discard_files(self) -> None:
        """Remove the job folder: its chunk files are in the scene now."""
        shutil.rmtree(self.start.job_dir, ignore_errors=True)

    def log_report(self) -> str:
        """What went wrong, for a log file or the Text editor: message, the worker's traceback, its log."""
        parts = [self.error or "no error", self.error_log, "\n".join(self.messages)]
        if self.worker_log:
            parts.append("worker's stderr (last lines):\n" + self.worker_log)
        return "\n\n".join(p for p in parts if p) + "\n"

    def summary(self) -> str:
        hands = ", ".join(f"{side} hand {h.samples()} samples" for side, h in self.hands.items()) or "no hand keyed"
        missing = f"; {len(self.frames_without_hand)} frame(s) without a hand" if self.frames_without_hand else ""
        return hands + missing


def _footage_background(camera: bpy.types.Object, video: str) -> None:
    """The footage behind the camera view, to check the overlay by eye (a Movie Clip, image sequences too)."""
    try:
        clip = bpy.data.movieclips.load(video, check_existing=True)
    except RuntimeError:
        return  # a format Blender cannot read: the camera still matches, just without the picture
    clip.frame_start = 1
    cam = camera.data
    cam.show_background_images = True
    bg = cam.background_images.new()
    bg.source = "MOVIE_CLIP"
    bg.clip = clip
    bg.frame_method = "FIT"
    bg.alpha = 1.0


def run_sync(start: P.Start, python: str, root: Optional[str] = None, heartbeat_timeout: float = 15.0, on_event=None, env: Optional[dict] = None,
             stop_reason: Callable[[], str] = lambda: "", show_confidence: bool = False) -> VideoImport:
    """Batch mode: the same job, driven synchronously (modal operators do not run in ``blender -b``).

    ``stop_reason`` is asked between events; a non-empty answer (e.g. ``"interrupted by SIGINT"``) kills the
    worker's process group at once and ends the job with that error, keeping the keys received."""
    job = VideoImport(start, show_confidence=show_confidence)
    client = WorkerClient(python, root, heartbeat_timeout=heartbeat_timeout, env=env)
    client.launch()
    try:
        while not job.over:
            for event in client.wait_event(0.5):
                job.handle(event, client)
                if on_event is not None:
                    on_event(job, event)
            reason = stop_reason()
            if reason and not job.over:
                client.kill()
                for late in client.poll():  # partial results already on the pipe stay
                    if not isinstance(late, WorkerFailure):
                        job.handle(late)
                job.error = reason
    finally:
        client.stop(grace=2.0)
        job.worker_log = client.log_text(400)
    return job
