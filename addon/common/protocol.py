"""The worker protocol: one JSON object per line on the worker's stdin/stdout, each with a protocol version.

Add-on -> worker: ``start`` (a job), ``cancel``, ``ping``.
Worker -> add-on: ``hello`` (capabilities: models, devices, versions), ``progress``, ``partial`` (a
motion-sequence file with the samples ready so far), ``done``, ``error`` (message + traceback), ``log``,
``heartbeat``. Bulk arrays never travel on the pipe: messages carry paths to ``.npz`` files in the job folder.

Both sides parse with :func:`decode`, which refuses anything malformed, unknown or of another version with a
:class:`ProtocolError` that says what was wrong (and never evaluates anything: plain ``json``).
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any, Dict, List, Optional, Type

from .job_options import JobOptionError, JobOptions
from .typed_values import checked_dataclass

PROTOCOL_VERSION = 2
MAX_LINE_BYTES = 1 << 20  # a control message is small; a longer line is a bug or an attack


class ProtocolError(ValueError):
    """A line that is not a valid message of this protocol version."""


@dataclass
class Hello:
    worker_version: str
    models: Dict[str, bool]  # model name -> has a trained checkpoint
    devices: List[str]
    python: str = ""
    torch: str = ""


@dataclass
class Start:
    job_id: str
    video: str  # a video file, an image-sequence folder, or one photo
    job_dir: str
    options: JobOptions = field(default_factory=JobOptions)


@dataclass
class Cancel:
    job_id: str


@dataclass
class Ping:
    pass


@dataclass
class Progress:
    job_id: str
    done: int
    total: int
    stage: str = ""


@dataclass
class Partial:
    job_id: str
    path: str  # a motion-sequence .npz in the job folder
    hand: str
    frames: List[float] = field(default_factory=list)


@dataclass
class Done:
    job_id: str
    paths: List[str]
    frames_without_hand: List[int] = field(default_factory=list)
    seconds: Dict[str, float] = field(default_factory=dict)  # time per stage (the stage timer's names)


@dataclass
class Error:
    job_id: str
    message: str
    traceback: str = ""


@dataclass
class Log:
    message: str
    level: str = "info"


@dataclass
class Heartbeat:
    time: float


MESSAGES: Dict[str, Type] = {
    "hello": Hello, "start": Start, "cancel": Cancel, "ping": Ping, "progress": Progress, "partial": Partial,
    "done": Done, "error": Error, "log": Log, "heartbeat": Heartbeat,
}
_NAMES = {cls: name for name, cls in MESSAGES.items()}


def encode(message: Any) -> str:
    """A message dataclass -> one line of JSON (with its newline)."""
    name = _NAMES.get(type(message))
    if name is None:
        raise ProtocolError(f"not a protocol message: {type(message).__name__}")
    return json.dumps({"v": PROTOCOL_VERSION, "type": name, **asdict(message)}, separators=(",", ":")) + "\n"


def decode(line: str | bytes) -> Any:
    """One line -> the message dataclass; every way it can be wrong is a :class:`ProtocolError`."""
    if isinstance(line, bytes):
        if len(line) > MAX_LINE_BYTES:
            raise ProtocolError(f"message longer than {MAX_LINE_BYTES} bytes")
        try:
            line = line.decode("utf-8")
        except UnicodeDecodeError:
            raise ProtocolError("message is not UTF-8") from None
    if len(line) > MAX_LINE_BYTES:
        raise ProtocolError(f"message longer than {MAX_LINE_BYTES} bytes")
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ProtocolError(f"not JSON: {exc.msg} at column {exc.colno}: {line.strip()[:80]!r}") from None
    if not isinstance(data, dict):
        raise ProtocolError("a message must be a JSON object")
    version = data.pop("v", None)
    if version != PROTOCOL_VERSION:
        raise ProtocolError(f"protocol version {version!r}, expected {PROTOCOL_VERSION} (add-on and worker differ?)")
    kind = data.pop("type", None)
    cls: Optional[Type] = MESSAGES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(f"unknown message type {kind!r}")
    options = None
    if cls is Start and "options" in data:
        try:
            options = JobOptions.from_dict(data.pop("options"))
        except JobOptionError as exc:
            raise ProtocolError(f"start: {exc}") from None
    message = checked_dataclass(cls, data, kind, ProtocolError)
    if options is not None:
        message.options = options
    return message
