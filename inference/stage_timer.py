"""Seconds per named stage of a job. Stages nest: time spent in an inner stage counts for it alone, so the
stages add up to the job's wall time without one clock being subtracted from another."""
from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Dict, Iterable, Iterator, List, TypeVar

from . import failpoints

T = TypeVar("T")


class StageTimer:
    def __init__(self) -> None:
        self.seconds: Dict[str, float] = {}
        self._stack: List[List] = []  # [name, time the stage last resumed]

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        failpoints.reached(name)
        now = time.perf_counter()
        if self._stack:
            self._charge(self._stack[-1], now)
        self._stack.append([name, now])
        try:
            yield
        finally:
            now = time.perf_counter()
            self._charge(self._stack.pop(), now)
            if self._stack:
                self._stack[-1][1] = now

    def iterate(self, name: str, items: Iterable[T]) -> Iterator[T]:
        """``items`` with the time spent producing each one counted for ``name`` (a decoder, say)."""
        it = iter(items)
        while True:
            with self(name):
                try:
                    item = next(it)
                except StopIteration:
                    return
            yield item

    def _charge(self, entry: List, now: float) -> None:
        self.seconds[entry[0]] = self.seconds.get(entry[0], 0.0) + now - entry[1]
        entry[1] = now

    def rounded(self, digits: int = 3) -> Dict[str, float]:
        return {k: round(v, digits) for k, v in self.seconds.items()}
