"""What every stage of a job reports to and asks: the message sink, the cancel flag and the stage timer."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from .stage_timer import StageTimer

Emit = Callable[[str, dict], None]  # (kind: "progress" | "partial" | "log", fields)


class JobCancelled(RuntimeError):
    pass


@dataclass
class JobContext:
    emit: Emit = lambda kind, fields: None
    cancelled: Callable[[], bool] = lambda: False
    timer: StageTimer = field(default_factory=StageTimer)

    def progress(self, stage: str, done: int, total: int) -> None:
        """Progress of a stage; also where a cancel request stops the job."""
        self.emit("progress", {"stage": stage, "done": done, "total": total})
        self.check_cancel()

    def log(self, message: str, level: str = "info") -> None:
        self.emit("log", {"message": message, "level": level})

    def check_cancel(self) -> None:
        if self.cancelled():
            raise JobCancelled("cancelled")
