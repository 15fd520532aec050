"""SIGINT and SIGTERM as a request to stop that keeps the work done so far (batch script and CLI).

Inside ``with StopSignals() as stop:`` the first signal is recorded in ``stop.received``. Outside a
``stop.deferred()`` block it raises :class:`Interrupted` at once; inside one (a loop that must not be torn
half-way, such as writing a chunk of keys) the loop looks at ``stop.received`` at its next safe point,
stops the worker and keeps what it has. The exit status is the shell's: 128 + the signal number (130 for
SIGINT, 143 for SIGTERM).
"""
from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from typing import Iterator, Optional

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(Exception):
    """The process was asked to stop by a signal."""

    def __init__(self, signum: int):
        super().__init__(f"interrupted by {signal.Signals(signum).name}")
        self.signum = signum

    @property
    def exit_status(self) -> int:
        return 128 + self.signum


class StopSignals:
    def __init__(self):
        self.received: Optional[int] = None
        self._deferring = 0
        self._previous = {}

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():  # signal handlers live on the main thread
            for sig in STOP_SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame) -> None:  # noqa: ARG002 - signal handler signature
        if self.received is None:
            self.received = signum
        if not self._deferring:
            raise Interrupted(signum)

    @property
    def name(self) -> str:
        return signal.Signals(self.received).name if self.received else ""

    @contextmanager
    def deferred(self) -> Iterator[None]:
        """Signals are only recorded here; the code inside checks ``received`` itself."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1

    def check(self) -> None:
        """Raise :class:`Interrupted` if a signal came (call after a deferred block)."""
        if self.received:
            raise Interrupted(self.received)
