"""The add-on's side of the process boundary: start the worker in its own process group, read its messages on
a thread into a queue, watch its heartbeat, and stop it for sure (cancel, then kill the group).

Pure Python (no bpy, no torch): the modal operator polls it from a timer on Blender's main thread; batch
mode polls it in a loop. Everything that can go wrong arrives as a :class:`WorkerFailure` event in the same
queue as the worker's own messages, with the tail of the worker's log.
"""
from __future__ import annotations

import collections
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Deque, List, Optional

from . import protocol as P


class WorkerError(RuntimeError):
    """The worker could not be started or did not say hello; the message says exactly why."""


@dataclass
class WorkerFailure:
    """The client's own event: the worker died, hung or spoke nonsense."""

    message: str
    log: str = ""


def default_worker_root() -> Optional[Path]:
    """The project checkout holding ``inference/`` when the add-on runs from it (tests, demo, batch)."""
    here = Path(__file__).resolve().parents[2]
    return here if (here / "inference" / "worker.py").is_file() else None


def default_python(root: Optional[Path]) -> str:
    """The checkout's ``.venv`` interpreter (``make setup`` makes it), else this process's Python."""
    if root is not None:
        venv = root / ".venv" / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
        if venv.is_file():
            return str(venv)
    return sys.executable


class WorkerClient:
    def __init__(self, python: str, root: str | os.PathLike | None = None, heartbeat_timeout: float = 15.0,
                 env: Optional[dict] = None):
        self.python = str(python)
        self.root = Path(root) if root else default_worker_root()
        self.heartbeat_timeout = heartbeat_timeout
        self.extra_env = env or {}
        self.events: "queue.Queue[object]" = queue.Queue()
        self.log: Deque[str] = collections.deque(maxlen=400)
        self.proc: Optional[subprocess.Popen] = None
        self.hello: Optional[P.Hello] = None
        self.last_beat = 0.0
        self._failed = False

    # -- starting ---------------------------------------------------------------------------------------
    def launch(self) -> None:
        """Start the worker process without waiting; its hello arrives as an event."""
        if not Path(self.python).is_file():
            raise WorkerError(f"no Python interpreter at {self.python}")
        if not os.access(self.python, os.X_OK):
            raise WorkerError(f"{self.python} is not executable")
        if self.root is None:
            raise WorkerError("no Hand Mocap folder is set: the add-on preferences need the checkout that holds "
                              "inference/")
        if not (self.root / "inference" / "worker.py").is_file():
            raise WorkerError(f"{self.root} does not contain inference/worker.py (set the Hand Mocap folder in "
                              "the add-on preferences)")
        env = {**os.environ, "PYTHONPATH": str(self.root), "PYTHONUNBUFFERED": "1", **self.extra_env}
        try:
            self.proc = subprocess.Popen([self.python, "-m", "inference.worker"], cwd=str(self.root), env=env,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         start_new_session=True)  # its own process group: killable as one
        except OSError as exc:
            raise WorkerError(f"cannot start {self.python}: {exc}") from None
        self.last_beat = time.monotonic()
        threading.Thread(target=self._read_stdout, daemon=True).start()
        threading.Thread(target=self._read_stderr, daemon=True).start()

    def start(self, timeout: float = 120.0) -> P.Hello:
        """Start the worker and wait for its hello (torch takes seconds to import)."""
        self.launch()
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                event = self.events.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None and self.events.empty():
                    time.sleep(0.2)  # let the stderr reader catch up
                    raise WorkerError(f"the worker exited ({self.proc.returncode}) before saying hello: "
                                      f"{self.last_log_line() or 'no output'}")
                continue
            if isinstance(event, P.Hello):
                self.hello, self.last_beat = event, time.monotonic()
                return event
            if isinstance(event, P.Error):
                self.stop()
                raise WorkerError(event.message)
            if isinstance(event, WorkerFailure):
                self.stop()
                raise WorkerError(event.message)
        self.stop()
        raise WorkerError(f"the worker did not say hello within {timeout:.0f} s")

    def _read_stdout(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        for line in self.proc.stdout:
            if not line.strip():
                continue
            try:
                message = P.decode(line)
            except P.ProtocolError as exc:
                self._fail(f"the worker sent a message this add-on cannot read ({exc})")
                return
            if isinstance(message, P.Heartbeat):
                self.last_beat = time.monotonic()
                continue
            self.last_beat = time.monotonic()
            self.events.put(message)
        code = self.proc.wait()
        if code not in (0, None) and not self._failed:
            time.sleep(0.2)
            self._fail(f"the worker stopped unexpectedly (exit status {code})")

    def _read_stderr(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        for raw in self.proc.stderr:
            self.log.append(raw.decode("utf-8", "replace").rstrip())

    def _fail(self, message: str) -> None:
        if not self._failed:
            self._failed = True
            self.events.put(WorkerFailure(message, self.log_text()))

    @property
    def running(self) -> bool:
        """Launched, still alive, and not failed or stopped by this client."""
        return self.proc is not None and self.proc.poll() is None and not self._failed

    # -- running ----------------------------------------------------------------------------------------
    def send(self, message) -> None:
        if self.proc is None or self.proc.stdin is None or self.proc.poll() is not None:
            raise WorkerError("the worker is not running")
        try:
            self.proc.stdin.write(P.encode(message).encode("utf-8"))
            self.proc.stdin.flush()
        except (BrokenPipeError, OSError) as exc:
            raise WorkerError(f"the worker is not listening ({exc})") from None

    def poll(self) -> List[object]:
        """Every event that has arrived (never blocks); adds a failure if the heartbeat stopped."""
        out = []
        while True:
            try:
                out.append(self.events.get_nowait())
            except queue.Empty:
                break
        if self.proc is not None and self.proc.poll() is None and not self._failed and \
                time.monotonic() - self.last_beat > self.heartbeat_timeout:
            self._failed = True
            self.kill()
            out.append(WorkerFailure(f"the worker stopped answering (no heartbeat for {self.heartbeat_timeout:.0f} s) "
                                     "and was stopped", self.log_text()))
        return out

    def wait_event(self, timeout: float) -> List[object]:
        """Block up to ``timeout`` for at least one event (batch mode)."""
        try:
            first = self.events.get(timeout=timeout)
        except queue.Empty:
            return self.poll()
        return [first] + self.poll()

    # -- stopping ---------------------------------------------------------------------------------------
    def cancel(self, job_id: str, grace: float = 1.0) -> None:
        """Ask the job to stop, give it ``grace`` seconds, then kill the process group."""
        try:
            self.send(P.Cancel(job_id))
        except WorkerError:
            pass
        self.stop(grace)

    def stop(self, grace: float = 1.0) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None and self.proc.stdin is not None:
            try:
                self.proc.stdin.close()  # end of stdin: the worker exits on its own
            except OSError:
                pass
            try:
                self.proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def kill(self) -> None:
        """SIGKILL the worker's whole process group (it may have started helpers)."""
        if self.proc is None:
            return
        self._failed = True  # an exit we caused is not a failure to report
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass

    def last_log_line(self) -> str:
        lines = [line for line in self.log if line.strip()]
        return lines[-1] if lines else ""

    def log_text(self, lines: int = 40) -> str:
        return "\n".join(list(self.log)[-lines:])


def check_interpreter(python: str, root: str | os.PathLike | None = None, timeout: float = 120.0) -> str:
    """Start a worker, read its capabilities, stop it: a one-paragraph summary, or :class:`WorkerError`."""
    client = WorkerClient(python, root)
    try:
        hello = client.start(timeout)
    finally:
        client.stop(0.5)
    ready = [name for name, ok in hello.models.items() if ok]
    missing = [name for name, ok in hello.models.items() if not ok]
    return (f"worker {hello.worker_version}, Python {hello.python}, torch {hello.torch}; devices: "
            f"{', '.join(hello.devices)}; models ready: {', '.join(ready) or 'none'}"
            + (f"; without a trained checkpoint: {', '.join(missing)}" if missing else ""))
