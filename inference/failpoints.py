"""Fault injection for the reliability harness (``benchmarks/fault_table.py``): ``HAND_MOCAP_FAILPOINT=WHERE:ACTION``
or ``WHERE:ACTION@N`` makes the worker fail on the N-th time (default: the first) it reaches ``WHERE``.

``WHERE`` is a stage's name (``detect``, ``model``, ``fit``, ``stream``, ``save``, ... as the stage timer names
them) or ``chunk`` (a chunk file just written, before it is announced). ``ACTION``:

- ``kill``: the process dies at once (SIGKILL), as on a crash in native code or the OOM killer;
- ``hang``: the whole process stops (SIGSTOP), heartbeat included, as on a stuck disk;
- ``raise``: an unexpected exception in the job;
- ``corrupt`` (``chunk`` only): the chunk file's bytes are overwritten with garbage.

Unset, nothing happens: the check is one dictionary lookup per stage entry.
"""
from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Dict, Optional

ENV = "HAND_MOCAP_FAILPOINT"


class InjectedFault(RuntimeError):
    """The ``raise`` action's exception."""


def _parse(text: str) -> Optional[tuple]:
    where, _, action = text.partition(":")
    action, _, nth = action.partition("@")
    return (where, action, int(nth or 1)) if where and action else None


_POINT = _parse(os.environ.get(ENV, ""))
_COUNTS: Dict[str, int] = {}


def reached(where: str, path: Optional[Path] = None) -> None:
    """Called where a fault may be injected; ``path``: the file just written (``chunk``)."""
    if _POINT is None or _POINT[0] != where:
        return
    _COUNTS[where] = _COUNTS.get(where, 0) + 1
    if _COUNTS[where] != _POINT[2]:
        return
    action = _POINT[1]
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "hang":
        os.kill(os.getpid(), signal.SIGSTOP)
    elif action == "raise":
        raise InjectedFault(f"injected fault at {where}")
    elif action == "corrupt" and path is not None:
        path.write_bytes(b"\x00garbage" * 64)
