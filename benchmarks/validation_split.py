"""Write the default model's validation split as pos/neg folders, for `bertvino validate` and friends.

    python benchmarks/validation_split.py OUT_DIR [--data ../shared/data/aclImdb_v1.tar.gz]

The recipe's split (train/validation.py): 20 % of aclImdb's train/ reviews, stratified, seed 12345: 2,500 positive
and 2,500 negative reviews the default model was not trained on, and INT8 was not calibrated on (its calibration
sample is drawn from all of train/, so a few of these may be among its 300: calibration sets ranges, not weights).
"""

import argparse
from pathlib import Path

import numpy as np

from bertvino.core.reviews import read_reviews
from bertvino.train.validation import held_out_mask
from common import add_data_option

LABELS = ("negative", "positive")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="new directory: OUT/pos, OUT/neg")
    add_data_option(parser)
    parser.add_argument("--fraction", type=float, default=0.2)
    parser.add_argument("--seed", type=int, default=12345)
    args = parser.parse_args()

    reviews = list(read_reviews(args.data, split="train"))
    labels = np.array([LABELS.index(review.label) for review in reviews], dtype=np.int32)
    out = Path(args.out)
    for index in np.flatnonzero(held_out_mask(labels, len(LABELS), args.fraction, args.seed)):
        review = reviews[index]
        folder = out / review.label[:3]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / Path(review.source).name).write_text(review.text, encoding="utf-8")
    print(f"Wrote {sum(1 for _ in out.rglob('*.txt'))} reviews under {out}")


if __name__ == "__main__":
    main()
