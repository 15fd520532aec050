"""The worker protocol: round trips, and a named error for every kind of bad line."""
import pytest

from addon.common import protocol as P
from addon.common.job_options import JobOptions


@pytest.mark.parametrize("message", [
    P.Hello(worker_version="0.1.0", models={"blurhandnet": False}, devices=["cpu"], python="3.11", torch="2.13"),
    P.Start(job_id="j1", video="/v.mp4", job_dir="/tmp/j1",
            options=JobOptions(hands=["right"], frame_start=3, frame_end=9, search=False, region=[1.0, 2.0, 30.0])),
    P.Cancel(job_id="j1"), P.Ping(), P.Progress(job_id="j1", done=3, total=10, stage="hands"),
    P.Partial(job_id="j1", path="/tmp/j1/right_0001.npz", hand="right", frames=[1.0, 1.25]),
    P.Done(job_id="j1", paths=["/tmp/j1/right.npz"], frames_without_hand=[4]),
    P.Error(job_id="j1", message="boom", traceback="Traceback ..."), P.Log(message="hi"), P.Heartbeat(time=1.5),
])
def test_every_message_round_trips_on_one_line(message):
    line = P.encode(message)
    assert line.endswith("\n") and line.count("\n") == 1
    assert P.decode(line) == message
    assert P.decode(line.encode()) == message


@pytest.mark.parametrize("line, reason", [
    ("not json at all", "not JSON"),
    ("[1, 2]", "must be a JSON object"),
    ('{"type": "ping"}', "protocol version None, expected 2"),
    ('{"v": 1, "type": "ping"}', "protocol version 1"),
    ('{"v": 2, "type": "format_disk"}', "unknown message type 'format_disk'"),
    ('{"v": 2, "type": "cancel"}', "cancel: .*missing 1 required positional argument: 'job_id'"),
    ('{"v": 2, "type": "cancel", "job_id": "j", "extra": 1}', r"cancel: unknown key\(s\) extra"),
    ('{"v": 2, "type": "progress", "job_id": "j", "done": "3", "total": 10}', "progress: done must be a whole number"),
    ('{"v": 2, "type": "heartbeat", "time": NaN}', "heartbeat: time must be a finite number"),
    ('{"v": 2, "type": "partial", "job_id": "j", "path": "p", "hand": "right", "frames": [1, "x"]}',
     "partial: frames must be a list of numbers"),
    ('{"v": 2, "type": "start", "job_id": "j", "video": "v", "job_dir": "d", "options": {"fov": 70}}',
     r"start: unknown job option\(s\) fov"),
    ('{"v": 2, "type": "start", "job_id": "j", "video": "v", "job_dir": "d", "options": {"frame_start": "3"}}',
     "start: --start must be a whole number"),
    ('{"v": 2, "type": "start", "job_id": "j", "video": "v", "job_dir": "d", "options": {"frame_start": -3}}',
     "start: --start must be 0 or more"),
])
def test_bad_lines_are_refused_with_the_reason(line, reason):
    with pytest.raises(P.ProtocolError, match=reason):
        P.decode(line)


def test_oversized_and_non_utf8_lines_are_refused():
    with pytest.raises(P.ProtocolError, match="longer than"):
        P.decode(b"x" * (P.MAX_LINE_BYTES + 1))
    with pytest.raises(P.ProtocolError, match="not UTF-8"):
        P.decode(b"\xff\xfe{}")
    with pytest.raises(P.ProtocolError, match="not a protocol message"):
        P.encode(object())
