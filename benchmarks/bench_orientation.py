"""How often ``--orientation auto`` finds an up in random sets of a data set's masks.

    python benchmarks/bench_orientation.py                       # both shared sets
    python benchmarks/bench_orientation.py --sizes 10 20 --bars 0.01 0.1 0.2

For each data set under ../shared/datasets (human-segmentation: photos, which have an up;
isbi2012-membrane: EM, which has none), draws ``--draws`` random sets of K masks (seeded)
and prints the share that ``orientation.decide``'s rule (sign-flip p-value under a bar,
mean asymmetry at least ``MIN_ASYMMETRY``) would call upright, at each bar.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from segapp.core.imageio import read_mask
from segapp.ml.orientation import MIN_ASYMMETRY, asymmetry, sign_flip_p_value

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "datasets"
SETS = ("human-segmentation", "isbi2012-membrane")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10, 20])
    p.add_argument("--bars", type=float, nargs="+", default=[0.01, 0.1, 0.2, 0.3])
    p.add_argument("--draws", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    rng = np.random.default_rng(args.seed)
    for name in SETS:
        masks = sorted((SHARED / name / "masks").glob("*.png"))
        values = [a for a in (asymmetry(read_mask(m) > 127) for m in masks) if a is not None]
        v = np.asarray(values)
        print(
            f"{name}: {len(v)} masks with objects, asymmetry mean {v.mean():.3f} sd {v.std():.3f}"
        )
        for k in args.sizes:
            draws = [rng.choice(v, k, replace=False) for _ in range(args.draws)]
            found = [(sign_flip_p_value(list(d)), float(d.mean())) for d in draws]
            shares = [
                np.mean([p < bar and m >= MIN_ASYMMETRY for p, m in found]) for bar in args.bars
            ]
            cells = ", ".join(f"p < {b}: {s:.0%}" for b, s in zip(args.bars, shares, strict=True))
            print(f"  random sets of {k}: found upright at {cells}")


if __name__ == "__main__":
    main()
