"""The fitting stage: MANO fitted to 2D keypoints over time, starting from (and held near) the network's own
estimate. Pure torch; runs on the CPU and CUDA.

- ``settings``: the weights and settings;
- ``terms``: the energy, one pure function per term;
- ``solve``: one window fitted (the unknowns, the weighted energy, Adam);
- ``starts``: where each frame's optimisation starts;
- ``track``: a track fitted in overlapping, streaming windows.

``docs/fitting.md`` explains the method and the measurements behind its settings.
"""
from .anatomy import FLIPPED_LABELS, AnatomicalFrame, limit_arrays
from .settings import FitSettings, FitWeights
from .solve import FitResult, Window, fit_window
from .starts import choose_starts, smooth_choice
from .track import SHAPE_START_LIMIT, TrackFitter, fit_frames, prior_weights

__all__ = ["FLIPPED_LABELS", "AnatomicalFrame", "limit_arrays", "FitSettings", "FitWeights", "FitResult", "Window",
           "fit_window", "choose_starts", "smooth_choice", "SHAPE_START_LIMIT", "TrackFitter", "fit_frames",
           "prior_weights"]
