"""smplx's MANO layer, built from arrays loaded by the project's safe loader (no chumpy, no raw pickle)."""
from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from typing import Optional

import numpy as np
import smplx
import torch
from smplx.utils import Struct
from torch import nn

from addon.common.hand_model import HandModel, find_hand_model
from addon.common.joints import TIP_NAMES, TIP_VERTEX_IDS, remap_indices


@dataclass
class ManoOutput:
    vertices: torch.Tensor  # (B, 778, 3)
    joints: torch.Tensor  # (B, 21, 3) in the order asked for (default MANO-21: 16 joints + 5 tips)
    full_pose: torch.Tensor  # (B, 48)


class ManoLayer(nn.Module):
    """MANO with ``flat_hand_mean=True`` and full axis-angle poses; joints returned in a chosen order."""

    def __init__(self, model: HandModel, joint_order: str = "mano21", dtype: torch.dtype = torch.float32):
        super().__init__()
        self.side = model.side
        self.model = model
        with contextlib.redirect_stdout(io.StringIO()):  # smplx prints a warning about ten shape coefficients
            self.mano = smplx.MANO(
                model_path=model.source or "<memory>",
                is_rhand=model.side == "right",
                data_struct=Struct(**model.as_smplx_dict()),
                use_pca=False,
                flat_hand_mean=True,
                num_betas=10,
                create_global_orient=False,
                create_hand_pose=False,
                create_betas=False,
                create_transl=False,
                dtype=dtype,
            )
        tips = [TIP_VERTEX_IDS[t] for t in TIP_NAMES]  # smplx 0.1.28 no longer appends the tips itself
        self.register_buffer("tip_index", torch.as_tensor(tips), persistent=False)
        self.register_buffer("joint_index", torch.as_tensor(remap_indices("mano21", joint_order)), persistent=False)

    def forward(self, global_orient: torch.Tensor, hand_pose: torch.Tensor, betas: Optional[torch.Tensor] = None,
                transl: Optional[torch.Tensor] = None) -> ManoOutput:
        batch = global_orient.shape[0]
        if betas is None:
            betas = global_orient.new_zeros(batch, 10)
        out = self.mano(global_orient=global_orient, hand_pose=hand_pose, betas=betas, transl=transl,
                        return_full_pose=True)
        joints = torch.cat([out.joints[:, :16], out.vertices[:, self.tip_index]], dim=1)
        return ManoOutput(out.vertices, joints[:, self.joint_index], out.full_pose)

    @property
    def faces(self) -> np.ndarray:
        return self.model.f


def load_mano_layer(side: str = "right", mano_dir: Optional[str] = None, **kwargs) -> ManoLayer:
    """The official model from ``mano_dir`` when given, else the shipped open hand."""
    return ManoLayer(find_hand_model(side, mano_dir), **kwargs)
