"""A seeded, balanced random sample of aclImdb's test reviews, written as an aclImdb-style folder (DIR/test/pos,
DIR/test/neg), so that accuracy runs that cannot afford all 25,000 reviews still measure an unbiased part of them
(the archive lists every negative review before the positive ones, so its first N are all negative).

    python benchmarks/test_sample.py --reviews 10000 --out aclImdb-test-sample-10000 [--data ...] [--seed 0]
"""

import argparse
import random
from pathlib import Path

from bertvino.reviews import read_reviews

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "aclImdb_v1.tar.gz"))
    parser.add_argument("--reviews", type=int, default=10000, help="how many, half of each label")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", required=True, help="new directory for the sample")
    args = parser.parse_args()

    by_label = {}
    for review in read_reviews(args.data, split="test"):
        by_label.setdefault(review.label, []).append(review)
    rng = random.Random(args.seed)
    for label, reviews in sorted(by_label.items()):
        for review in rng.sample(reviews, min(len(reviews), args.reviews // len(by_label))):
            target = Path(args.out) / "test" / label[:3] / Path(review.source).name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(review.text, encoding="utf-8")
    print(f"Wrote {sum(1 for _ in Path(args.out).rglob('*.txt'))} reviews to {args.out}")


if __name__ == "__main__":
    main()
