"""Regenerate the shipped open hand (``addon/data/OPEN_HAND_{RIGHT,LEFT}.pkl`` and its skin texture).

    python tools/make_open_hand.py [--out DIR]

The output is deterministic: on one machine it reproduces the shipped files bit for bit; on another CPU
floats may differ in the last bit (the tests compare by value), while faces and texels stay exact.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from open_hand.build import write_open_hand  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "addon" / "data"), help="output folder")
    args = ap.parse_args(argv)
    for kind, path in write_open_hand(args.out).items():
        print(f"{kind:8s} {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
