"""Footage decoded and searched for hands on a thread of its own, a few frames ahead of the rest of the job.

MediaPipe and the networks both release Python's lock while they compute, so the detector's work on the next
frames overlaps the networks' and the fit's on the frames before: the job takes about as long as the slower of
the two, not their sum. While torch and the networks load, the detector runs ahead; the queue between them
holds at most ``AHEAD_BYTES`` of frames, so memory stays flat with the footage's length.
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Callable, Iterator, List, Optional, Tuple

import numpy as np

from . import failpoints
from .detect import Detection
from .video import Footage

# Frames the detector may run ahead of the job: enough to keep it busy while torch loads (about 2.5 s, 90
# frames of 720p at this CPU's detection speed), bounded in bytes whatever the footage's size.
AHEAD_BYTES = 256 * 2 ** 20
MIN_AHEAD = 8
# The job may hold the detector back for a while (``FrameSource.hold``), for this long at most over the footage:
# a job that misjudges what it waits for loses that much time, and never hangs.
MAX_HOLD_S = 2.0
HOLD_POLL_S = 0.005


def frames_ahead(width: int, height: int) -> int:
    return max(MIN_AHEAD, AHEAD_BYTES // max(1, width * height * 3))


class FrameSource:
    """``for index, rgb, found in source``: each frame of ``start..end`` with the hands the detector (made on
    the thread by ``make_detector``) found in it. An error on the thread (a damaged file, a missing detector) is
    raised here; ``stop()`` ends the thread early."""

    def __init__(self, footage: Footage, start: int, end: int, make_detector: Callable[[], object]):
        self.footage, self.start, self.end, self.make_detector = footage, start, end, make_detector
        self.seconds = {"decode": 0.0, "detect": 0.0}
        self.frames_read = 0
        self.finished = threading.Event()  # the detector's work is over (the queue may still hold frames)
        self.ready = threading.Event()  # the detector is made, or failed to be
        self.hold: Callable[[int], bool] = lambda index: False  # the detector waits before a frame while true
        self.held = 0.0  # seconds it waited
        ahead = frames_ahead(footage.info.width, footage.info.height)
        self._queue: "queue.Queue[Optional[Tuple]]" = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._error: Optional[BaseException] = None
        self._thread = threading.Thread(target=self._run, name="hand-mocap-detect", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        detector = None
        try:
            tick = time.perf_counter()
            try:
                detector = self.make_detector()
            finally:
                self.ready.set()
            self.seconds["detect"] += time.perf_counter() - tick
            tick = time.perf_counter()
            for index, rgb in self.footage.frames(self.start, self.end):
                self.seconds["decode"] += time.perf_counter() - tick
                self._wait_while_held(index)
                now = time.perf_counter()
                failpoints.reached("detect")
                found = detector(rgb)
                self.seconds["detect"] += time.perf_counter() - now
                if not self._put((index, rgb, found)):
                    return
                self.frames_read += 1
                tick = time.perf_counter()
        except BaseException as exc:  # noqa: BLE001 - handed to the job's thread, which raises it
            self._error = exc
        finally:
            if detector is not None:
                detector.close()
            self.finished.set()
            self._put(None)

    def _wait_while_held(self, index: int) -> None:
        while self.held < MAX_HOLD_S and not self._stop.is_set() and self.hold(index):
            tick = time.perf_counter()
            self._stop.wait(HOLD_POLL_S)
            self.held += time.perf_counter() - tick

    def _put(self, item) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Tuple[int, np.ndarray, List[Detection]]]:
        while True:
            item = self._queue.get()
            if item is None:
                if self._error is not None:
                    raise self._error
                return
            yield item

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
