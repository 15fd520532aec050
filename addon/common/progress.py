"""A dependency-free progress bar with rate and ETA, on stderr (Blender's Python has no tqdm)."""
from __future__ import annotations

import sys
import time


def _clock(seconds: float) -> str:
    seconds = int(max(seconds, 0))
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Progress:
    def __init__(self, total: int, unit: str = "items", enabled: bool = True, width: int = 30, stream=None):
        self.total, self.unit, self.enabled, self.width = max(total, 1), unit, enabled, width
        self.stream = stream or sys.stderr
        self.start = time.perf_counter()
        self.done = 0
        self.closed = False
        self._draw()

    def update(self, done: int) -> None:
        self.done = min(done, self.total)
        self._draw()

    def _draw(self) -> None:
        if not self.enabled or self.closed:
            return
        elapsed = time.perf_counter() - self.start
        fill = int(self.width * self.done / self.total)
        rate = self.done / elapsed if elapsed > 0 and self.done else 0.0
        eta = (self.total - self.done) / rate if rate else float("nan")
        eta_text = _clock(eta) if rate else "--:--:--"
        self.stream.write(f"\r[{'#' * fill}{'.' * (self.width - fill)}] {self.done}/{self.total} {self.unit}"
                          f"  {_clock(elapsed)} elapsed  ETA {eta_text}")
        self.stream.flush()

    def note(self, text: str) -> None:
        """A message on a line of its own (not glued to the bar); the bar is drawn again below it."""
        if self.enabled and not self.closed:
            self.stream.write("\n")
        self.stream.write(text + "\n")
        self._draw()

    def close(self) -> None:
        """End the bar's line (once), so whatever is printed next starts on a new line."""
        if self.enabled and not self.closed:
            self.stream.write("\n")
            self.stream.flush()
        self.closed = True
