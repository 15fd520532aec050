"""*Import Hand Motion from Video*: a modal operator that runs the worker and keys the hand as results arrive.

A timer drains the worker's events on the main thread (the only thread that touches Blender data); the
progress bar and status text follow the job; Esc cancels within the worker's grace time and keeps the keys
received. The operator registers with UNDO, so one undo step removes the whole import.
"""
from __future__ import annotations

from dataclasses import asdict
from typing import Optional

import bpy
from bpy.props import BoolProperty, EnumProperty, FloatProperty, IntProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from ..common.job_options import JobOptionError, check_job_fields, parse_region
from ..common.models import MODEL_LABELS, MODEL_NAMES
from ..common.worker_client import WorkerClient, WorkerError
from .video_job import VideoImport, new_job, run_sync
from .preferences import worker_settings

LOG_TEXT = "Hand Mocap worker log"
MODEL_ITEMS = [(name, name, MODEL_LABELS[name]) for name in MODEL_NAMES]


def show_log(job: VideoImport) -> None:
    """Put the worker's traceback / log into a Text data-block the user can open in the Text Editor."""
    text = bpy.data.texts.get(LOG_TEXT) or bpy.data.texts.new(LOG_TEXT)
    text.clear()
    text.write(job.log_report())


class HANDMOCAP_OT_import_video(bpy.types.Operator, ImportHelper):
    """Track hands in a video with the inference worker and import them as animated MANO hands"""

    bl_idname = "hand_mocap.import_video"
    bl_label = "Import Hand Motion from Video"
    bl_options = {"REGISTER", "UNDO"}

    filter_glob: StringProperty(default="*.mp4;*.mov;*.avi;*.mkv;*.m4v;*.webm;*.png;*.jpg;*.jpeg",
                                options={"HIDDEN"})
    model: EnumProperty(name="Model", items=MODEL_ITEMS, default="blurhandnet")
    hands: EnumProperty(name="Hands", default="BOTH", items=[
        ("BOTH", "Right and left", "Every hand found, one rig each"),
        ("RIGHT", "Right only", "One right hand (the best detection of each frame)"),
        ("LEFT", "Left only", "One left hand (the best detection of each frame)")])
    frame_start: IntProperty(name="First frame", description="First footage frame (0-based)", default=0, min=0)
    frame_end: IntProperty(name="Last frame", description="Last footage frame, -1 for the end", default=-1, min=-1)
    exposure: FloatProperty(name="Exposure (frames)", description="Shutter time in frames: BlurHandNet's end "
                            "hands are keyed at frame -/+ exposure/2", default=0.5, min=0.0, max=0.95)
    smoothing: FloatProperty(name="Smoothing", description="Jitter filter strength (One Euro), 0 = off",
                             default=0.0, min=0.0, max=1.0, subtype="FACTOR")
    fill_gaps: IntProperty(name="Fill gaps (frames)", description="Interpolate across up to this many frames "
                           "without a hand (0: leave them unkeyed)", default=0, min=0, max=120)
    fov: FloatProperty(name="Field of view", description="Horizontal field of view of the footage, degrees",
                       default=60.0, min=5.0, max=170.0)
    region: StringProperty(name="Fixed region", default="",
                           description="x0, y0, side in pixels: track this square instead of detecting hands")
    first_blender_frame: IntProperty(name="Start at frame", default=1,
                                     description="The Blender frame of the footage's first frame")
    refine: EnumProperty(name="Refine", default="keypoints", items=[
        ("keypoints", "Fit to keypoints", "Fit the hand to the detector's 2D keypoints over time (the network's "
         "estimate as a prior): hands that match the footage"),
        ("off", "Off", "The network's raw output")])
    search: BoolProperty(name="Search for missed hands", default=True,
                         description="Look for hands MediaPipe's palm detector missed: around a lost hand, and "
                         "in tiles over the frame while no hand is found")
    refine_strength: FloatProperty(name="Fit strength", default=1.0, min=0.1, max=4.0,
                                   description="How strongly the keypoints pull against the network and the hand "
                                   "priors (1 = default)")
    keypoint_offsets: EnumProperty(name="Keypoints", default="joints", items=[
        ("joints", "On the joints", "Fit MANO's joints onto the detector's keypoints"),
        ("measured", "Short of the joints", "MediaPipe's keypoints lie short of MANO's joints along each "
         "finger, by offsets measured on renders: a closer 2D fit (see the README; no effect on the keypoint "
         "network's points)")])
    keypoint_source: EnumProperty(name="Keypoints from", default="auto", items=[
        ("auto", "Automatic", "The keypoint network's points where its checkpoint is installed, else MediaPipe's"),
        ("mediapipe", "MediaPipe", "MediaPipe's landmarks, as the detector found them"),
        ("network", "Keypoint network", "The project's keypoint network reads each crop (trained on MANO's joints); "
         "the fit follows its points"),
        ("depth", "MediaPipe + depths", "MediaPipe's landmarks, with the keypoint network's depths of the joints")])
    skin: EnumProperty(name="Skin", default="procedural", items=[
        ("procedural", "Procedural", "The hand model's own skin texture"),
        ("footage", "From the footage", "The hand's colours taken from the footage: per vertex, the median over "
         "the frames that see it"),
        ("network", "From the network", "The colours the model itself predicts (S2HAND(V), AMVUR), aggregated "
         "over the frames where it saw each vertex")])
    show_confidence: BoolProperty(name="Show confidence", default=False,
                                  description="Colour the hand by the model's per-joint confidence (AMVUR): red "
                                  "unsure, green sure; the mesh's hand_mocap_confidence_overlay switches it later")
    window: IntProperty(name="Window (frames)", default=0, min=0, max=32,
                        description="Deformer: frames per sliding window (0: the checkpoint's own)")
    window_stride: IntProperty(name="Window stride", default=0, min=0, max=32,
                               description="Deformer: frames between window starts, overlaps blended (0: the "
                               "checkpoint's own)")

    fit_window: IntProperty(name="Fit window (frames)", default=0, min=0, max=1024,
                            description="Footage frames per window of the fitting stage (0: 128); shorter windows "
                            "key their first frames sooner")

    _timer = None
    _client: Optional[WorkerClient] = None
    _job: Optional[VideoImport] = None

    def invoke(self, context, event):
        if self.filepath:  # given (e.g. the sidebar's active Movie Clip): no file browser
            return self.execute(context)
        return super().invoke(context, event)

    def execute(self, context):
        settings = worker_settings(context)
        hands = {"BOTH": ["right", "left"], "RIGHT": ["right"], "LEFT": ["left"]}[self.hands]
        start = new_job(bpy.path.abspath(self.filepath), model=self.model, hands=hands,
                        frame_start=self.frame_start, frame_end=self.frame_end, exposure=self.exposure,
                        smoothing=self.smoothing, fill_gaps=self.fill_gaps, fov_deg=self.fov,
                        first_blender_frame=self.first_blender_frame, mano_dir=settings.mano_dir or "",
                        hand_model=settings.hand_model,
                        device=settings.device, refine=self.refine, refine_strength=self.refine_strength,
                        keypoint_offsets=self.keypoint_offsets, keypoint_source=self.keypoint_source,
                        search=self.search, window=self.window, window_stride=self.window_stride, skin=self.skin,
                        fit_window=self.fit_window)
        try:
            start.region = parse_region(self.region)
            check_job_fields(asdict(start))
        except JobOptionError as exc:
            self.report({"ERROR"}, f"Hand Mocap: {exc}")
            return {"CANCELLED"}
        if bpy.app.background or context.window is None:  # no event loop to drive a modal run: finish here
            try:
                self._job = run_sync(start, settings.python, settings.root or None, settings.mano_dir or None,
                                     show_confidence=self.show_confidence)
            except WorkerError as exc:
                self.report({"ERROR"}, f"Hand Mocap: {exc}")
                return {"CANCELLED"}
            return self._report(self._job, "error" if self._job.error else "done")
        self._client = WorkerClient(settings.python, settings.root or None)
        try:
            self._client.launch()
        except WorkerError as exc:
            self.report({"ERROR"}, f"Hand Mocap: {exc}")
            return {"CANCELLED"}
        self._job = VideoImport(start, settings.mano_dir or None, show_confidence=self.show_confidence)
        wm = context.window_manager
        self._timer = wm.event_timer_add(0.1, window=context.window)
        wm.progress_begin(0, 1000)
        wm.modal_handler_add(self)
        return {"RUNNING_MODAL"}

    def modal(self, context, event):
        job, client = self._job, self._client
        if event.type == "ESC":
            client.cancel(job.start.job_id, grace=1.0)
            for late in client.poll():  # partial results that made it before the stop stay
                job.handle(late)
            return self._finish(context, "cancelled")
        if event.type != "TIMER":
            return {"PASS_THROUGH"}
        for item in client.poll():
            try:
                job.handle(item, client)
            except Exception as exc:  # noqa: BLE001 - a bad result file must not leave the job running
                job.error, job.error_log = f"could not apply the worker's result: {exc}", ""
        context.window_manager.progress_update(int(job.fraction * 1000))
        if context.workspace is not None:
            context.workspace.status_text_set(job.status())
        if job.over:
            return self._finish(context, "error" if job.error else "done")
        return {"RUNNING_MODAL"}

    def _finish(self, context, how: str):
        wm = context.window_manager
        wm.event_timer_remove(self._timer)
        wm.progress_end()
        if context.workspace is not None:
            context.workspace.status_text_set(None)
        self._client.stop(grace=1.0)
        return self._report(self._job, how)

    def _report(self, job: VideoImport, how: str):
        job.discard_files()  # the chunk files are keys in the scene now
        if how == "error":
            show_log(job)
            self.report({"ERROR"}, f"Hand Mocap: {job.error} (kept {job.summary()}; details in the Text "
                        f"'{LOG_TEXT}')")
        elif how == "cancelled":
            self.report({"WARNING"}, f"Hand Mocap: cancelled; kept {job.summary()}")
        else:
            self.report({"INFO"}, f"Hand Mocap: imported {job.summary()}")
        # FINISHED (one undo step) whenever something was added, so the keys stay and one undo removes them.
        return {"FINISHED"} if job.hands else {"CANCELLED"}

    def cancel(self, context):  # Blender closing the window mid-job
        if self._client is not None:
            self._client.kill()
        if self._job is not None:
            self._job.discard_files()


def menu_import_video(self, context):
    self.layout.operator(HANDMOCAP_OT_import_video.bl_idname, text="Hand Motion from Video")
