"""Rows of the fault table (``benchmarks/fault_table.py``) that take seconds: a real batch import with a real worker,
a fault injected, and what the user gets: one line, exit 1, every key received saved, nothing left behind. (The
killed, hung and interrupted workers have their own tests in test_worker.py and test_batch.py.)"""
from __future__ import annotations

import pytest

from benchmarks.fault_table import FAULTS, run_fault
from helpers import ROOT


@pytest.mark.parametrize("name, says", [("chunk file corrupted", "the worker's results could not be read"),
                                       ("disk full", "could not write the results to")])
def test_a_fault_keeps_the_keys_received_and_leaves_nothing_behind(name, says, tmp_path):
    row = run_fault(name, FAULTS[name], ROOT / "samples" / "sample_clip.mp4", tmp_path)
    assert row["ok"], row
    assert row["exit"] == 1 and row["saved"] > 0 and row["alive"] == 0 and row["left"] == 0
    assert says in row["message"], row["message"]
