"""A hand's lane (inference/hand_lane.py): the hand's pass on threads of its own gives the keys the pass gives
run in order on one thread, delivered batch by batch as they are final; a fault on a lane's thread reaches the
job's thread; a cancel ends the threads."""
from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from addon.common.hand_model import find_hand_model
from addon.common.job_options import JobOptions
from helpers import ROOT, assert_close
from inference import failpoints
from inference.camera import intrinsics_from_fov
from inference.detect import make_detector
from inference.hand_lane import HandLane
from inference.job_context import JobContext
from inference.streaming import Networks, hand_pass
from inference.tracking import OnlineTracker
from inference.video import Footage

FRAMES = 56  # past the first fit window (48 frames): keys come out before the end


@pytest.fixture(scope="module")
def clip():
    """The sample clip's first frames, its hand found and followed by the job's own detector and tracker."""
    footage = Footage(ROOT / "samples" / "sample_clip.mp4")
    detector, tracker = make_detector(max_hands=1), OnlineTracker(max_hands=1, one_hand=True)
    frames = []
    for index, rgb in footage.frames(0, FRAMES - 1):
        tracker.update(index, detector(rgb))
        frames.append(rgb)
    detector.close()
    track = tracker.tracks[0]
    options = JobOptions(hands=["right"]).check()
    right = find_hand_model("right")
    nets = Networks(options, right, torch.device("cpu"), True, JobContext())
    k = intrinsics_from_fov(footage.info.width, footage.info.height, options.fov_deg)

    def new_pass():
        return hand_pass("right", "network", options, nets, right, right, k, torch.device("cpu"),
                         footage.info.fps, FRAMES)

    pushes = [(f, frames[f], track.detections[f], track.smoothed_box(f)) for f in sorted(track.detections)]
    return new_pass, pushes


def in_order(p, pushes):
    """The pass run on one thread, its parts in turn."""
    keypoints, out = {}, []

    def with_keypoints(reads):
        keypoints.update(p.reader.finished(flush=True))
        for r in reads:
            r.keypoints = keypoints.pop(r.output.frame)
        return reads

    for f, rgb, det, box in pushes:
        p.read_keypoints(f, rgb, box)
        out += p.fit(with_keypoints(p.read(f, rgb, det, box)))
    return out + p.fit(with_keypoints(p.read_rest())) + p.fit_rest(pushes[-1][0])


def test_a_lane_gives_the_keys_of_the_pass_run_in_order(clip):
    new_pass, pushes = clip
    expected = in_order(new_pass(), pushes)
    got, batches = [], []
    lane = HandLane(new_pass(), lambda samples: (got.extend(samples), batches.append(threading.current_thread())))
    for item in pushes:
        lane.push(*item)
    lane.end(pushes[-1][0])
    lane.wait()
    assert len(pushes) >= FRAMES - 2, "the detector should follow the sample clip's hand"
    assert len(batches) >= 2 and threading.current_thread() not in batches  # delivered as final, by the lane
    assert [s.frame for s in got] == [s.frame for s in expected]
    assert_close(np.stack([s.pose for s in got]), np.stack([s.pose for s in expected]), 0.05, "poses")
    assert_close(np.stack([s.transl for s in got]), np.stack([s.transl for s in expected]), 0.01, "translations")
    assert not any(t.is_alive() for t in lane._threads)


def test_lanes_told_to_end_together_each_deliver_all_their_keys_in_any_order_of_waiting(clip):
    new_pass, pushes = clip
    got = {"right": [], "left": []}
    lanes = {name: HandLane(new_pass(), got[name].extend) for name in got}
    for item in pushes:
        for lane in lanes.values():
            lane.push(*item)
    for lane in lanes.values():  # as the job ends them: all told first, so their last fits run side by side
        lane.end(pushes[-1][0])
    lanes["left"].wait()
    lanes["right"].wait()
    expected = [s.frame for s in in_order(new_pass(), pushes)]
    assert [s.frame for s in got["right"]] == [s.frame for s in got["left"]] == expected


def test_a_fault_on_a_lanes_thread_is_raised_on_the_jobs_thread(clip, monkeypatch):
    new_pass, pushes = clip
    monkeypatch.setattr(failpoints, "_POINT", ("fit", "raise", 1))
    monkeypatch.setattr(failpoints, "_COUNTS", {})
    lane = HandLane(new_pass(), lambda samples: None)
    with pytest.raises(failpoints.InjectedFault, match="injected fault at fit"):
        for item in pushes:
            lane.push(*item)
        lane.end(pushes[-1][0])
        lane.wait()
    lane.stop()
    assert not any(t.is_alive() for t in lane._threads)


def test_a_cancel_while_the_job_waits_on_a_lane_stops_its_threads(clip):
    new_pass, pushes = clip
    cancel = threading.Event()

    def check():
        if cancel.is_set():
            raise RuntimeError("cancelled")

    lane = HandLane(new_pass(), lambda samples: None, check)
    cancel.set()
    start = time.perf_counter()
    with pytest.raises(RuntimeError, match="cancelled"):
        for item in pushes * 4:  # more than the queues hold: the job's thread waits, and answers the cancel
            lane.push(*item)
        lane.end(pushes[-1][0])
        lane.wait()
    lane.stop()
    assert time.perf_counter() - start < 30
    assert not any(t.is_alive() for t in lane._threads)
