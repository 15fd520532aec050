"""The inference worker: ``python -m inference.worker`` speaks the line protocol (addon/common/protocol.py) on
stdin/stdout and runs one job at a time.

- On start it says ``hello`` (models with/without checkpoints, devices, versions), or, when torch or the
  project cannot be imported, an ``error`` naming the interpreter and the missing piece, then exits 3.
- A ``heartbeat`` every second, so the add-on can tell a hung worker from a slow one.
- ``start`` runs a job: ``progress``, a ``partial`` per chunk of finished samples (a motion-sequence
  ``.npz`` in the job folder), then ``done`` or ``error`` (message + traceback).
- ``cancel`` stops the job at its next check (the add-on also kills the process group after a grace time).
- End of stdin (the add-on went away) ends the worker.

Only protocol lines go to the real stdout: file descriptor 1 is pointed at stderr at start-up, so a library
that prints cannot corrupt the pipe. ``HAND_MOCAP_WORKER_FAULT`` (crash | exit | garbage) makes a job fail
on purpose after its first partial result, and ``slow`` makes it pause after each one: the add-on's
reliability tests use them.
"""
from __future__ import annotations

import os
import platform
import queue
import sys
import threading
import time
import traceback

from addon.common import protocol as P

WORKER_VERSION = "0.1.0"
HEARTBEAT_SECONDS = 1.0


class Channel:
    """The protocol stream: one lock, one flush per message."""

    def __init__(self, stream):
        self.stream, self.lock = stream, threading.Lock()

    def send(self, message) -> None:
        self.write(P.encode(message))

    def write(self, text: str) -> None:
        with self.lock:
            try:
                self.stream.write(text)
                self.stream.flush()
            except (BrokenPipeError, ValueError):  # the add-on is gone
                os._exit(0)


def _protocol_stdout():
    """A private copy of stdout for the protocol; fd 1 then goes to stderr."""
    proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    return proto


def _hello():
    import torch

    from .catalog import available

    devices = ["cpu"] + ([f"cuda:{i}" for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else [])
    return P.Hello(worker_version=WORKER_VERSION, models=available(), devices=devices,
                   python=f"{platform.python_version()} ({sys.executable})", torch=torch.__version__)


def _preload() -> None:
    """What a job imports, imported while the worker waits for its first job, so a worker started ahead (the
    add-on starts one when its file browser opens) begins that job at once. A job that comes meanwhile waits
    for them; a missing piece is reported by the job that needs it."""
    import importlib

    for name in ("inference.streaming", "mediapipe.python.solutions.hands", "tflite_runtime.interpreter"):
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - see above
            return


def _run(start: P.Start, out: Channel, cancel: threading.Event) -> None:
    from .pipeline import run_job

    fault = os.environ.get("HAND_MOCAP_WORKER_FAULT", "")
    partials = 0

    def emit(kind: str, fields: dict) -> None:
        nonlocal partials
        if kind == "progress":
            out.send(P.Progress(start.job_id, fields["done"], fields["total"], fields["stage"]))
        elif kind == "partial":
            out.send(P.Partial(start.job_id, fields["path"], fields["hand"], fields["frames"]))
            partials += 1
            if fault == "slow":  # a long job, for the tests that interrupt one mid-way
                time.sleep(0.5)
            if fault and partials == 1:
                if fault == "crash":
                    raise RuntimeError("injected fault: crash after the first partial result")
                if fault == "exit":
                    sys.stderr.write("injected fault: the worker process dies\n")
                    sys.stderr.flush()
                    os._exit(9)
                if fault == "garbage":
                    out.write("this is not a protocol message\n")
        elif kind == "log":
            out.send(P.Log(fields["message"], fields.get("level", "info")))

    result = run_job(start.video, start.options, start.job_dir, emit, cancelled=cancel.is_set)
    out.send(P.Done(start.job_id, [result.paths[s] for s in result.paths], result.frames_without_hand,
                    result.seconds))


def main() -> int:
    out = Channel(_protocol_stdout())
    try:
        hello = _hello()
    except ImportError as exc:
        name = getattr(exc, "name", None) or str(exc)
        out.send(P.Error("", f"{name} is not installed in {sys.executable}", traceback.format_exc()))
        return 3
    out.send(hello)
    stop = threading.Event()

    def beat():
        while not stop.wait(HEARTBEAT_SECONDS):
            out.send(P.Heartbeat(time.time()))

    threading.Thread(target=beat, daemon=True).start()
    preload = threading.Thread(target=_preload, daemon=True)
    preload.start()
    jobs: "queue.Queue[P.Start | None]" = queue.Queue()
    cancels = {}

    def read():
        for line in sys.stdin.buffer:
            if not line.strip():
                continue
            try:
                message = P.decode(line)
            except P.ProtocolError as exc:
                out.send(P.Error("", f"worker got a bad message: {exc}"))
                continue
            if isinstance(message, P.Start):
                cancels[message.job_id] = threading.Event()
                jobs.put(message)
            elif isinstance(message, P.Cancel):
                cancels.setdefault(message.job_id, threading.Event()).set()
            elif isinstance(message, P.Ping):
                out.send(P.Heartbeat(time.time()))
            else:
                out.send(P.Error("", f"worker does not accept {type(message).__name__} messages"))
        for event in cancels.values():  # stdin closed: the add-on is gone
            event.set()
        jobs.put(None)

    threading.Thread(target=read, daemon=True).start()
    while True:
        start = jobs.get()
        if start is None:
            break
        preload.join()  # a job's own imports beside the preload's could deadlock on the module locks
        cancel = cancels[start.job_id]
        if cancel.is_set():
            out.send(P.Error(start.job_id, "cancelled"))
            continue
        try:
            _run(start, out, cancel)
        except Exception as exc:  # noqa: BLE001 - every failure is reported, the worker lives on
            # the project's own errors are written for the user; anything else is named by its class
            own = type(exc).__module__.split(".")[0] in ("inference", "addon")
            message = "cancelled" if cancel.is_set() else str(exc) if own else f"{type(exc).__name__}: {exc}"
            out.send(P.Error(start.job_id, message, "" if cancel.is_set() else traceback.format_exc()))
    stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
