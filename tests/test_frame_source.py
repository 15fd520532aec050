"""The detector's thread: frames in order with their hands; a detector that cannot be made neither hangs the job
waiting for it nor is lost; the job holds it back until the first keys are out, never for long."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from helpers import ROOT
from inference import frame_source
from inference.detect import DetectorUnavailable, FixedRegion
from inference.frame_source import FrameSource
from inference.streaming import FIRST_KEYS_LEAD, first_keys_hold
from inference.video import Footage

CLIP = ROOT / "samples" / "sample_clip.mp4"


def test_frames_come_in_order_with_their_hands_and_the_detector_is_ready_first():
    source = FrameSource(Footage(CLIP), 5, 14, lambda: FixedRegion(np.array([100.0, 50.0, 200.0])))
    try:
        assert source.ready.wait(10)
        got = [(index, rgb.shape, [d.side for d in found]) for index, rgb, found in source]
    finally:
        source.stop()
    assert [g[0] for g in got] == list(range(5, 15))
    assert all(shape == (360, 640, 3) and sides == ["right"] for _, shape, sides in got)
    assert source.finished.is_set() and source.frames_read == 10


def test_a_detector_that_cannot_be_made_sets_ready_and_its_error_reaches_the_job():
    def broken():
        raise DetectorUnavailable("no MediaPipe here")

    source = FrameSource(Footage(CLIP), 0, 9, broken)
    try:
        assert source.ready.wait(10)
        with pytest.raises(DetectorUnavailable, match="no MediaPipe"):
            list(source)
    finally:
        source.stop()
    assert source.frames_read == 0


def held_source(hold) -> FrameSource:
    """A source whose detector is made only once ``hold`` is in place, so it holds from the first frame."""
    gate = threading.Event()

    def detector():
        gate.wait(10)
        return FixedRegion(np.array([100.0, 50.0, 200.0]))

    source = FrameSource(Footage(CLIP), 0, 9, detector)
    source.hold = hold
    gate.set()
    return source


def test_the_detector_waits_while_held_and_goes_on_when_released():
    released = threading.Event()
    source = held_source(lambda index: index >= 3 and not released.is_set())
    try:
        frames = iter(source)
        assert [next(frames)[0] for _ in range(3)] == [0, 1, 2]
        time.sleep(0.3)
        assert source.frames_read == 3
        released.set()
        assert [index for index, _, _ in frames] == list(range(3, 10))
    finally:
        source.stop()
    assert source.held > 0


def test_a_hold_that_never_ends_is_cut_short(monkeypatch):
    monkeypatch.setattr(frame_source, "MAX_HOLD_S", 0.2)
    source = held_source(lambda index: index >= 1)
    try:
        assert [index for index, _, _ in source] == list(range(10))
    finally:
        source.stop()
    assert 0.2 <= source.held < 1.0


EDGE = 47 + FIRST_KEYS_LEAD  # the last frame the detector reads freely past a 48-frame window from frame 0


@pytest.mark.parametrize("index, seen, taken_in, busy, held", [
    (EDGE, 48, EDGE - 1, True, False),  # not yet past it
    (EDGE + 1, 48, EDGE, True, True),  # past it: wait for the first keys
    (EDGE + 1, 48, EDGE, False, False),  # the hand network has nothing to read: the cores would idle
    (EDGE + 1, 30, EDGE, True, False),  # the job has caught up and seen the hand too seldom to fill the window
    (EDGE + 1, 30, 40, True, True),  # the job has not caught up: the hand may yet fill it
])
def test_the_first_keys_hold_waits_only_past_the_first_window_with_work_left(index, seen, taken_in, busy, held):
    assert first_keys_hold(index, first_frame=0, need=48, seen=seen, taken_in=taken_in, network_busy=busy) is held
