"""Which checkpoints are trusted as the code is (the package's own) and which are checked before anything is built."""
from __future__ import annotations

import shutil

import pytest
import torch

from inference.catalog import MODELS, is_shipped
from inference.models.output import CheckpointError, load_model


def test_only_the_package_s_own_checkpoints_count_as_shipped(tmp_path):
    shipped = MODELS["blurhandnet"].checkpoint_path()
    assert is_shipped(shipped)
    copy = tmp_path / shipped.name
    shutil.copy(shipped, copy)
    assert not is_shipped(copy)


def test_a_forged_config_outside_the_package_is_refused_before_the_network_is_built(tmp_path):
    data = torch.load(MODELS["blurhandnet"].checkpoint_path(), weights_only=True)
    data["config"]["backbone_width"] = 10 ** 9  # the real network would need terabytes
    forged = tmp_path / "forged.pt"
    torch.save(data, forged)
    with pytest.raises(CheckpointError, match="weights do not fit|does not build"):
        load_model(forged)
