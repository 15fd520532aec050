"""The worker an interactive import keeps for the next one (addon/common/kept_worker.py), as real worker
processes: the next import reuses it without waiting for a hello; a worker started ahead says hello to the
import that takes it; a dead or cancelled worker is never reused."""
from __future__ import annotations

import sys
import time

import pytest

from addon.common import kept_worker
from addon.common import protocol as P
from addon.common.job_options import JobOptions
from addon.common.worker_client import WorkerFailure
from helpers import ROOT

CLIP = ROOT / "samples" / "sample_clip.mp4"
PYTHON = sys.executable


@pytest.fixture(autouse=True)
def nothing_kept():
    kept_worker.release()
    yield
    kept_worker.release()


def one_job(client, ready: bool, tmp_path, name: str, timeout: float = 240) -> list:
    """A short job on the sample clip, sent at once or when the worker's hello comes; its events."""
    start = P.Start(job_id=name, video=str(CLIP), job_dir=str(tmp_path / name),
                    options=JobOptions(hands=["right"], frame_end=12))
    if ready:
        client.send(start)
    events, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        for event in client.wait_event(0.2):
            events.append(event)
            if isinstance(event, P.Hello):
                client.send(start)
            if isinstance(event, (P.Done, P.Error, WorkerFailure)):
                return events
    raise AssertionError(f"the job did not end in {timeout} s: {events[-3:]}")


def test_the_next_import_reuses_the_kept_worker_without_a_hello(tmp_path):
    client, ready = kept_worker.take(PYTHON, str(ROOT))
    assert not ready
    first = one_job(client, ready, tmp_path, "a")
    assert any(isinstance(e, P.Hello) for e in first) and isinstance(first[-1], P.Done)
    kept_worker.keep(client)
    again, ready = kept_worker.take(PYTHON, str(ROOT))
    assert again is client and ready and again.proc.pid == client.proc.pid
    second = one_job(again, ready, tmp_path, "b")
    assert not any(isinstance(e, P.Hello) for e in second) and isinstance(second[-1], P.Done)
    assert any(isinstance(e, P.Partial) for e in second)
    again.stop(0.5)


def test_a_worker_started_ahead_says_hello_to_the_import_that_takes_it(tmp_path):
    kept_worker.prestart(PYTHON, str(ROOT))
    time.sleep(0.5)  # the user picks the footage
    client, ready = kept_worker.take(PYTHON, str(ROOT))
    assert not ready
    events = one_job(client, ready, tmp_path, "a")
    assert isinstance(events[0], P.Hello) and isinstance(events[-1], P.Done)
    client.stop(0.5)


def test_a_dead_or_cancelled_worker_is_not_reused(tmp_path):
    client, ready = kept_worker.take(PYTHON, str(ROOT))
    one_job(client, ready, tmp_path, "a")
    kept_worker.keep(client)
    client.kill()  # it died while kept
    fresh, ready = kept_worker.take(PYTHON, str(ROOT))
    assert fresh is not client and not ready
    fresh.cancel("none", grace=0.5)  # a cancelled import stops its worker
    kept_worker.keep(fresh)
    other, ready = kept_worker.take(PYTHON, str(ROOT))
    assert other is not fresh and not ready
    other.stop(0.5)
