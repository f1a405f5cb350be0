"""Where a version's proposals go wrong: each held-out image's IoU, worst first.

    python benchmarks/bench_errors.py RUN                       # ids 161-200 of human-segmentation
    python benchmarks/bench_errors.py RUN --overlays /tmp/errs  # and each proposal as a picture
    python benchmarks/bench_errors.py RUN --data ../shared/datasets/isbi2012-membrane --test 11-19

RUN is a checkpoint folder (a project's ``versions/vNNN``, ``segapp train --out``, or one
that ``bench_active_loop.py --keep`` kept). Its proposals are made as the window makes them
(``bench_fewshot.score``) and compared with the masks: per image the IoU and the pixels
wrongly claimed and missed, as shares of the object's own area (a proposal that claims
twice the object's area reads "claimed 2.00"). ``--overlays`` writes each image tinted
green where the proposal is right about the object, red where it claims background and
blue where it misses the object, named IOU_STEM.png so a file browser sorts them worst
first: reading them is how the few images that hold a mean down are found, and whether the
model or the mask is at fault.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from bench_fewshot import DATA, score  # same folder: proposals scored one way


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("run", help="checkpoint folder")
    p.add_argument("--data", default=str(DATA))
    p.add_argument("--test", default="161-200", help="score on these ids")
    p.add_argument("--device", default="cpu")
    p.add_argument("--overlays", default="", help="folder for the error pictures")
    args = p.parse_args()
    logging.basicConfig(level=logging.WARNING)
    lo, hi = (int(v) for v in args.test.split("-"))
    overlays = Path(args.overlays) if args.overlays else None
    if overlays is not None:
        overlays.mkdir(parents=True, exist_ok=True)
    r = score(Path(args.run), Path(args.data), lo, hi, device=args.device, overlays=overlays)
    print("| image | IoU | claimed | missed |\n|---|---|---|---|")
    for row in r["per_image"]:
        print(f"| {row['stem']} | {row['iou']:.3f} | {row['claimed']:.2f} | {row['missed']:.2f} |")
    print(f"\nmean per-image IoU {r['mean_image_iou']:.3f} over {r['images']} images")


if __name__ == "__main__":
    main()
