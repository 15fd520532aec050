"""The worker an interactive import keeps for the next one, so that import skips the worker's start (Python,
torch and MediaPipe loading take seconds). It is launched when the import's file browser opens, so it loads
while the user picks the footage. It ends with Blender (a worker exits when its stdin closes) or when the add-on
is disabled. A worker that failed, hung or was cancelled is never kept."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Tuple

from .worker_client import WorkerClient, WorkerFailure

_kept: Optional[WorkerClient] = None
_ready = False  # its hello was taken by an earlier import: the next job can be sent at once


def _same(client: WorkerClient, python: str, root: Optional[str]) -> bool:
    return client.python == str(python) and (root is None or client.root == Path(root))


def take(python: str, root: Optional[str] = None) -> Tuple[WorkerClient, bool]:
    """A launched worker for this interpreter and folder: the kept one if it is still well, else a new one.
    The flag says whether it has said hello already (send the job now); if not, its hello is among its events
    (send the job when it comes). Raises ``WorkerError`` if a new one cannot start."""
    global _kept, _ready
    client, ready = _kept, _ready
    _kept, _ready = None, False
    if client is not None:
        failed = any(isinstance(e, WorkerFailure) for e in client.poll()) if ready else False
        if failed or not client.running or not _same(client, python, root):
            client.stop(grace=0.5)
            client = None
    if client is None:
        client, ready = WorkerClient(python, root), False
        client.launch()
    return client, ready


def keep(client: WorkerClient) -> None:
    """Keep ``client`` for the next import, if it is still well (its job ended and its hello was taken);
    otherwise stop it."""
    global _kept, _ready
    release()
    if client.running:
        _kept, _ready = client, True
    else:
        client.stop(grace=0.5)


def prestart(python: str, root: Optional[str] = None) -> None:
    """Launch a worker now unless a well one is kept; a worker that cannot start is left for the import to
    report."""
    global _kept, _ready
    if _kept is not None and _kept.running and _same(_kept, python, root):
        return
    release()
    client = WorkerClient(python, root)
    try:
        client.launch()
    except Exception:  # noqa: BLE001 - the import itself starts one again and says what is wrong
        return
    _kept, _ready = client, False


def release() -> None:
    """Stop the kept worker, if any (the add-on is disabled)."""
    global _kept, _ready
    if _kept is not None:
        _kept.stop(grace=1.0)
    _kept, _ready = None, False
