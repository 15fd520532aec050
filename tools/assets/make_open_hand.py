"""Regenerate the shipped open hand (``addon/data/OPEN_HAND_{RIGHT,LEFT}.pkl`` and its skin texture).

    python -m tools.assets.make_open_hand [--out DIR]

The output is deterministic: on one machine it reproduces the shipped files bit for bit; on another CPU
floats may differ in the last bit (the tests compare by value), while faces and texels stay exact.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tools.assets.open_hand.build import write_open_hand

ROOT = Path(__file__).resolve().parents[2]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "addon" / "data"), help="output folder")
    args = ap.parse_args(argv)
    for kind, path in write_open_hand(args.out).items():
        print(f"{kind:8s} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
