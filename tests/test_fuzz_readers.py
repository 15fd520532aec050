"""Every reader of outside data, fed generated broken files (``fuzz_readers.py``): each file loads or is refused
with the reader's own named error. ``make fuzz`` runs 10,000 cases per format; here a fixed sample of each."""
from __future__ import annotations

import warnings

import pytest
from fuzz_readers import FORMATS, OneShot, outcome
from hypothesis import HealthCheck, given, settings

CASES = 60


@pytest.mark.parametrize("name", list(FORMATS))
def test_every_generated_file_is_accepted_or_refused_by_name(name, tmp_path):
    fmt = FORMATS[name]
    seen = set()

    @settings(max_examples=CASES, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(fmt.files())
    def case(file: OneShot) -> None:
        result = outcome(fmt, file.take(), tmp_path)
        seen.add(result)
        assert result in ("accepted", "refused"), result

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        case()
    assert seen == {"accepted", "refused"}  # both paths were exercised
