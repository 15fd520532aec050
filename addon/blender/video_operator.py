"""*Import Hand Motion from Video*: a modal operator that runs the worker and keys the hand as results arrive.

A timer drains the worker's events on the main thread (the only thread that touches Blender data); the
progress bar and status text follow the job; Esc cancels within the worker's grace time and keeps the keys
received. The worker starts when the file browser opens and is kept for the next import
(``addon/common/kept_worker.py``). The operator registers with UNDO, so one undo step removes the whole import.
"""
from __future__ import annotations

from typing import Optional

import bpy
from bpy.props import BoolProperty, StringProperty
from bpy_extras.io_utils import ImportHelper

from ..common import kept_worker
from ..common.job_options import JobOptionError
from ..common.worker_client import WorkerClient, WorkerError
from .job_properties import options_from, properties
from .preferences import worker_settings
from .video_job import VideoImport, new_job, run_sync

LOG_TEXT = "Hand Mocap worker log"


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
    show_confidence: BoolProperty(name="Show confidence", default=False,
                                  description="Colour the hand by the model's per-joint confidence (AMVUR): red "
                                  "unsure, green sure; the mesh's hand_mocap_confidence_overlay switches it later")
    # and one property per job option (job_properties.py), added before the class is registered

    _timer = None
    _client: Optional[WorkerClient] = None
    _job: Optional[VideoImport] = None

    def invoke(self, context, event):
        if self.filepath:  # given (e.g. the sidebar's active Movie Clip): no file browser
            return self.execute(context)
        if not bpy.app.background:  # the worker loads while the user picks the footage
            settings = worker_settings(context)
            kept_worker.prestart(settings.python, settings.root or None)
        return super().invoke(context, event)

    def execute(self, context):
        settings = worker_settings(context)
        try:
            options = options_from(self, settings.job_options)
        except JobOptionError as exc:
            self.report({"ERROR"}, f"Hand Mocap: {exc}")
            return {"CANCELLED"}
        start = new_job(bpy.path.abspath(self.filepath), options)
        if bpy.app.background or context.window is None:  # no event loop to drive a modal run: finish here
            try:
                self._job = run_sync(start, settings.python, settings.root or None, show_confidence=self.show_confidence)
            except WorkerError as exc:
                self.report({"ERROR"}, f"Hand Mocap: {exc}")
                return {"CANCELLED"}
            return self._report(self._job, "error" if self._job.error else "done")
        self._job = VideoImport(start, show_confidence=self.show_confidence)
        try:
            self._client, ready = kept_worker.take(settings.python, settings.root or None)
            if ready:  # a kept worker said hello to an earlier import: the job goes now
                self._client.send(start)
        except WorkerError as exc:
            self.report({"ERROR"}, f"Hand Mocap: {exc}")
            return {"CANCELLED"}
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
        if how == "done":  # its job is over and it is well: kept for the next import
            kept_worker.keep(self._client)
        else:  # cancelled, failed, or its results could not be applied (its job may still run)
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


HANDMOCAP_OT_import_video.__annotations__.update(properties("operator"))


def menu_import_video(self, context):
    self.layout.operator(HANDMOCAP_OT_import_video.bl_idname, text="Hand Motion from Video")
