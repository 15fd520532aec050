"""Hand model for torch code: MANO-format files (via ``addon.common.hand_model``) in smplx's MANO layer."""
from .mano_layer import ManoLayer, ManoOutput, load_mano_layer

__all__ = ["ManoLayer", "ManoOutput", "load_mano_layer"]
