"""A hand's pass (``hand_pass.py``) on threads of its own: the hand network reads its frames on one (and the
keypoint network, where the fit follows its points, on another) while its earlier frames are placed and fitted
on the last. The networks and the fit release Python's lock while they compute, so a hand's parts, two hands
and the detector's thread use the cores side by side.

The job's thread pushes frames in (``push``), says the footage ended (``end``) and waits (``wait``); the fit's
thread hands each batch of final samples on (``deliver``: the job's chunk writer) as soon as they are final, so
a crash later in the job keeps them. The queues between the threads are short: a lane that falls behind holds the job's thread
back, and through it the detector, so memory stays flat. An error on a lane's thread is raised on the job's
thread; ``stop()`` ends its threads early (a cancelled job).
"""
from __future__ import annotations

import queue
import threading
from typing import Callable, Dict, List, Optional

import numpy as np
import torch

from .detect import Detection
from .hand_pass import HandPass, NetworkRead
from .keypoint_reader import FrameKeypoints
from .records import Sample

DEPTH = 16  # frames waiting for the networks, and batches of reads waiting for the fit
POLL_S = 0.1  # how often a blocked thread looks for a stop, an error or a cancel


class LaneStopped(Exception):
    """The lane was stopped while a thread waited."""


class HandLane:
    def __init__(self, hand_pass: HandPass, deliver: Callable[[List[Sample]], None],
                 check: Callable[[], None] = lambda: None, threads: Callable[[], int] = lambda: 0):
        """``deliver``: called on the fit's thread with each batch of final samples, in order.
        ``check``: called while the job's thread waits; raises to stop waiting (a cancelled job).
        ``threads``: torch's threads for the networks' next batch, as the cores free up (0: leave them); the fit's
        tensors are small, and it keeps one."""
        self.hand_pass, self.deliver, self.check, self.threads = hand_pass, deliver, check, threads
        self._frames: queue.Queue = queue.Queue(DEPTH)  # (index, rgb, detection, box) or ("end", last_frame)
        self._reads: queue.Queue = queue.Queue(DEPTH)  # (reads, last_frame or None)
        reads_keypoints = hand_pass.reader is not None
        self._frame_keypoints: queue.Queue = queue.Queue(DEPTH)  # as _frames, for the keypoint network
        self._keypoints: Dict[int, FrameKeypoints] = {}  # read by the keypoint network, not yet fitted
        self._keypoints_ready = threading.Condition()
        self._through = threading.Event()  # every sample delivered
        self._stopped = threading.Event()
        self._error: Optional[BaseException] = None
        name = f"hand-mocap-{hand_pass.side}"
        self._threads = [threading.Thread(target=self._guarded, args=(self._read_loop,), name=f"{name}-read",
                                          daemon=True),
                         threading.Thread(target=self._guarded, args=(self._fit_loop,), name=f"{name}-fit",
                                          daemon=True)]
        if reads_keypoints:
            self._threads.append(threading.Thread(target=self._guarded, args=(self._keypoint_loop,),
                                                  name=f"{name}-keypoints", daemon=True))
        for t in self._threads:
            t.start()

    # -- the job's thread ---------------------------------------------------------------------------------
    def push(self, index: int, rgb: np.ndarray, detection: Detection, box: np.ndarray) -> None:
        self._put(self._frames, (index, rgb, detection, box), waiting=True)
        if self.hand_pass.reader is not None:
            self._put(self._frame_keypoints, (index, rgb, box), waiting=True)

    def busy(self) -> bool:
        """Frames are waiting for the hand network."""
        return not self._frames.empty()

    def end(self, last_frame: int) -> None:
        """Nothing more will be pushed: the lane fits up to footage frame ``last_frame`` and delivers the rest."""
        self._put(self._frames, ("end", last_frame), waiting=True)
        if self.hand_pass.reader is not None:
            self._put(self._frame_keypoints, ("end",), waiting=True)

    def wait(self) -> None:
        """Returns once everything pushed has been read, fitted and delivered (after ``end``)."""
        while not self._through.wait(POLL_S):
            self._raise_error()
            self.check()
        for t in self._threads:
            t.join()
        self._raise_error()

    def stop(self) -> None:
        self._stopped.set()
        for t in self._threads:
            t.join(timeout=10)

    # -- the lane's threads -------------------------------------------------------------------------------
    def _read_loop(self) -> None:
        p, threads = self.hand_pass, 0
        while True:
            item = self._get(self._frames)
            wanted = self.threads()
            if wanted and wanted != threads:  # this thread's own count (OpenMP keeps one per thread)
                torch.set_num_threads(threads := wanted)
            if item[0] == "end":
                self._put(self._reads, (p.read_rest(), item[1]))
                return
            reads = p.read(*item)
            if reads:
                self._put(self._reads, (reads, None))

    def _keypoint_loop(self) -> None:
        p = self.hand_pass
        if self.threads():
            torch.set_num_threads(1)
        while True:
            item = self._get(self._frame_keypoints)
            done = p.keypoints_rest() if item[0] == "end" else p.read_keypoints(*item)
            with self._keypoints_ready:
                self._keypoints.update(done)
                self._keypoints_ready.notify_all()
            if item[0] == "end":
                return

    def _with_keypoints(self, reads: List[NetworkRead]) -> List[NetworkRead]:
        """``reads`` with the keypoint network's points, once it has read their frames."""
        if self.hand_pass.reader is None:
            return reads
        for r in reads:
            with self._keypoints_ready:
                while r.output.frame not in self._keypoints:
                    if self._stopped.is_set():
                        raise LaneStopped()
                    self._keypoints_ready.wait(POLL_S)
                r.keypoints = self._keypoints.pop(r.output.frame)
        return reads

    def _fit_loop(self) -> None:
        p = self.hand_pass
        if self.threads():
            torch.set_num_threads(1)
        while True:
            reads, last_frame = self._get(self._reads)
            samples = p.fit(self._with_keypoints(reads))
            if last_frame is not None:
                samples += p.fit_rest(last_frame)
            if samples:
                self.deliver(samples)
            if last_frame is not None:
                self._through.set()
                return

    def _guarded(self, loop: Callable[[], None]) -> None:
        try:
            loop()
        except LaneStopped:
            pass
        except BaseException as exc:  # noqa: BLE001 - raised on the job's thread
            if self._error is None:
                self._error = exc
            self._stopped.set()

    # -- waiting --------------------------------------------------------------------------------------------
    def _get(self, q: queue.Queue):
        while True:
            try:
                return q.get(timeout=POLL_S)
            except queue.Empty:
                if self._stopped.is_set():
                    raise LaneStopped() from None

    def _put(self, q: queue.Queue, item, waiting: bool = False) -> None:
        """``waiting``: the job's thread, which raises a lane's error and answers ``check`` while it waits."""
        while True:
            if waiting:
                self._raise_error()
            try:
                q.put(item, timeout=POLL_S)
                return
            except queue.Full:
                if waiting:
                    self.check()
                elif self._stopped.is_set():
                    raise LaneStopped() from None

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error
