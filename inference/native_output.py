"""Native libraries in the job (MediaPipe's C++ logging, TFLite's delegate notices) write straight to file
descriptor 2, past Python. On a command line that is noise between the project's own messages, so a job can
send it to a file while Python's ``sys.stderr`` keeps the terminal."""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Optional, TextIO

_terminal: Optional[TextIO] = None  # the terminal's stderr on a descriptor of its own, made once


def _terminal_stderr() -> TextIO:
    global _terminal
    if _terminal is None:
        _terminal = open(os.dup(2), "w", buffering=1, encoding=sys.stderr.encoding or "utf-8",
                         errors="backslashreplace")
    return _terminal


@contextmanager
def native_stderr_to(path: str | Path) -> Iterator[None]:
    """Inside the block, what native code writes to stderr goes to ``path``; Python's ``sys.stderr`` still
    writes to the terminal (also through objects made inside the block that keep it, such as progress bars)."""
    sys.stderr.flush()
    terminal = _terminal_stderr()
    saved_fd, python_stderr = os.dup(2), sys.stderr
    with open(path, "ab") as sink:
        os.dup2(sink.fileno(), 2)
    sys.stderr = terminal
    try:
        yield
    finally:
        terminal.flush()
        sys.stderr = python_stderr
        os.dup2(saved_fd, 2)
        os.close(saved_fd)
