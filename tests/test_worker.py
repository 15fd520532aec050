"""The inference worker as a real process: hello, jobs on real footage, and every way a job can go wrong
(bad footage, no hand, no checkpoint, a crash, a dead or hung process, garbage on the pipe, cancel)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

from addon.common import protocol as P
from addon.common.job_options import JobOptions
from addon.common.motion_sequence import load_motion_sequence
from addon.common.worker_client import WorkerClient, WorkerError, WorkerFailure, check_interpreter
from helpers import ROOT

CLIP = ROOT / "samples" / "sample_clip.mp4"
PYTHON = sys.executable


def run_job(tmp_path, video, heartbeat_timeout=15.0, env=None, on_partial=None, timeout=240, **options):
    """Start a worker, run one job, return (events, client) once it is over."""
    client = WorkerClient(PYTHON, ROOT, heartbeat_timeout=heartbeat_timeout, env=env)
    client.start()
    start = P.Start(job_id="j1", video=str(video), job_dir=str(tmp_path / "job"), options=JobOptions(**options))
    client.send(start)
    events, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for event in client.wait_event(0.2):
                events.append(event)
                if isinstance(event, P.Partial) and on_partial is not None:
                    on_partial(client, event)
            if any(isinstance(e, (P.Done, P.Error, WorkerFailure)) for e in events):
                return events, client
        raise AssertionError(f"job did not end in {timeout} s: {events[-3:]}")
    finally:
        client.stop(0.5)


def ending(events):
    return next(e for e in events if isinstance(e, (P.Done, P.Error, WorkerFailure)))


def test_hello_reports_models_devices_and_versions():
    client = WorkerClient(PYTHON, ROOT)
    hello = client.start()
    client.stop()
    assert set(hello.models) == {"blurhandnet", "deformer", "seqhand", "s2hand", "amvur"}
    assert hello.models["blurhandnet"] is True  # the shipped default checkpoint
    assert hello.devices[0] == "cpu" and hello.torch


def test_check_names_a_missing_interpreter_and_one_without_torch(tmp_path):
    with pytest.raises(WorkerError, match="no Python interpreter at /no/such/python"):
        check_interpreter("/no/such/python", ROOT)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True)
    bare = tmp_path / "bare" / "bin" / "python"
    with pytest.raises(WorkerError, match=f"torch is not installed in {bare}"):
        check_interpreter(str(bare), ROOT)
    assert "models ready: blurhandnet" in check_interpreter(PYTHON, ROOT)


@pytest.mark.parametrize("refine, frame_end", [("off", 25), ("keypoints", 49)])
def test_a_job_streams_partials_then_done_with_subframe_samples(tmp_path, refine, frame_end):
    # the fitting stage streams window by window (here 24 frames, each window's last 4 re-fitted by the next)
    events, _ = run_job(tmp_path, CLIP, hands=["right"], frame_start=10, frame_end=frame_end, fov_deg=70.8,
                        refine=refine, fit_window=24)
    done = ending(events)
    assert isinstance(done, P.Done), done
    partials = [e for e in events if isinstance(e, P.Partial)]
    assert len(partials) >= 2  # streamed, not all at the end
    assert any(isinstance(e, P.Progress) and e.stage == "hands" for e in events)
    seq = load_motion_sequence(done.paths[0])
    assert seq.handedness == "right" and seq.model == "blurhandnet"
    whole = set(np.round(seq.frames).astype(int))
    assert whole <= set(range(11, frame_end + 2))  # footage frames 10..end are Blender frames 11..end + 1
    assert np.allclose(np.sort(seq.frames[:3] - seq.frames[1]), [-0.25, 0, 0.25])  # exposure 0.5
    assert sum(len(load_motion_sequence(p.path)) for p in partials) == len(seq)
    # every stage the job went through, timed once; the fit (and the keypoints it reads) only when it runs
    stages = {"read", "decode", "detect", "model", "place", "stream", "save"}
    fitted = {"fit", "keypoints"} if refine == "keypoints" else set()
    assert set(done.seconds) == stages | fitted, done.seconds


def test_bad_footage_is_reported_by_name(tmp_path):
    events, _ = run_job(tmp_path, tmp_path / "missing.mp4")
    assert "missing.mp4: no such file" in ending(events).message
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(os.urandom(4096))
    events, _ = run_job(tmp_path, corrupt)
    assert "corrupt.mp4: not a video OpenCV can open" in ending(events).message


def test_a_clip_without_hands_says_so(tmp_path):
    path = tmp_path / "empty.mp4"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 30, (160, 120))
    for i in range(12):
        writer.write(np.full((120, 160, 3), 40 + 10 * i, np.uint8))
    writer.release()
    events, _ = run_job(tmp_path, path)
    end = ending(events)
    assert isinstance(end, P.Error) and "no right or left hand found in frames 0..11" in end.message


def test_a_model_without_checkpoint_refuses_to_run(tmp_path):
    empty = tmp_path / "no-checkpoints"
    empty.mkdir()
    events, _ = run_job(tmp_path, CLIP, model="s2hand", frame_end=3, env={"HAND_MOCAP_CHECKPOINTS": str(empty)})
    assert "s2hand: no trained checkpoint" in ending(events).message
    assert not any(isinstance(e, P.Partial) for e in events)


def test_a_crash_mid_job_sends_its_traceback_after_the_partials(tmp_path):
    events, _ = run_job(tmp_path, CLIP, env={"HAND_MOCAP_WORKER_FAULT": "crash"}, hands=["right"], frame_end=20)
    end = ending(events)
    assert isinstance(end, P.Error) and "injected fault" in end.message
    assert "Traceback" in end.traceback and "worker.py" in end.traceback
    assert isinstance(events[events.index(end) - 1], P.Partial) or any(isinstance(e, P.Partial) for e in events)


def test_a_dead_worker_is_a_failure_with_its_log(tmp_path):
    events, _ = run_job(tmp_path, CLIP, env={"HAND_MOCAP_WORKER_FAULT": "exit"}, hands=["right"], frame_end=20)
    end = ending(events)
    assert isinstance(end, WorkerFailure) and "exit status 9" in end.message
    assert "injected fault: the worker process dies" in end.log
    assert any(isinstance(e, P.Partial) for e in events)


def test_garbage_on_the_pipe_ends_the_job_with_a_clear_failure(tmp_path):
    events, client = run_job(tmp_path, CLIP, env={"HAND_MOCAP_WORKER_FAULT": "garbage"}, hands=["right"],
                             frame_end=20)
    end = ending(events)
    assert isinstance(end, WorkerFailure) and "cannot read" in end.message and "not JSON" in end.message


def test_the_worker_answers_a_bad_message_and_keeps_working():
    client = WorkerClient(PYTHON, ROOT)
    client.start()
    try:
        client.proc.stdin.write(b'{"v": 2, "type": "launch_missiles"}\n{"v": 2, "type": "ping"}\n')
        client.proc.stdin.flush()
        events = client.wait_event(10)
        assert isinstance(events[0], P.Error) and "unknown message type 'launch_missiles'" in events[0].message
        assert client.proc.poll() is None
    finally:
        client.stop()


def test_a_hung_worker_is_stopped_by_the_heartbeat_timeout(tmp_path):
    def freeze(client, event):
        if not getattr(client, "frozen_at", None):
            client.frozen_at = time.monotonic()
            os.kill(client.proc.pid, signal.SIGSTOP)

    # Short fitting windows: the first partial, and so the freeze, comes after 12 frames, long before the end.
    events, client = run_job(tmp_path, CLIP, heartbeat_timeout=2.0, on_partial=freeze, hands=["right"],
                             frame_end=59, fit_window=12)
    end = ending(events)
    assert isinstance(end, WorkerFailure) and "stopped answering" in end.message
    assert client.proc.poll() is not None  # killed, not left stopped
    # Stopped by the 2 s heartbeat, not by run_job's 240 s limit; the margin is for a loaded machine.
    assert time.monotonic() - client.frozen_at < 30


def test_cancel_stops_the_worker_within_two_seconds_and_keeps_partials(tmp_path):
    client = WorkerClient(PYTHON, ROOT)
    client.start()
    client.send(P.Start(job_id="c", video=str(CLIP), job_dir=str(tmp_path / "job"), options=JobOptions(hands=["right"])))
    partials = []
    deadline = time.monotonic() + 120
    while not partials and time.monotonic() < deadline:
        partials += [e for e in client.wait_event(0.2) if isinstance(e, P.Partial)]
    assert partials
    started = time.monotonic()
    client.cancel("c", grace=1.0)
    assert time.monotonic() - started < 2.0
    assert client.proc.poll() is not None
    assert len(load_motion_sequence(partials[0].path)) > 0  # what arrived is still there to key
