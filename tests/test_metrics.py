"""`Confusion.report()` against values worked out by hand, so that a slip in a formula (precision over gold
instead of predicted totals, F1 of the wrong pair) cannot hide behind the data of a real run."""

import pytest

from bertvino.infer.metrics import Confusion

LABELS = ("negative", "neutral", "positive", "mixed")

# rows gold, columns predicted (negative, neutral, positive, mixed); nothing is gold or predicted "mixed"
COUNTS = [[5, 1, 2, 0],
          [1, 2, 1, 0],
          [0, 3, 6, 0],
          [0, 0, 0, 0]]


@pytest.fixture
def report():
    confusion = Confusion(LABELS)
    for gold, row in zip(LABELS, COUNTS):
        for predicted, count in zip(LABELS, row):
            for _ in range(count):
                confusion.add(gold, predicted)
    confusion.add(None, "positive")  # no gold label: not counted at all
    confusion.add("very positive", "positive")  # a gold label the model lacks: counted apart
    confusion.add("very positive", "negative")
    return confusion.report()


def test_per_class_precision_recall_f1_and_support_by_hand(report):
    # negative: 5 right of 6 predicted (precision 5/6), of 8 gold (recall 5/8); F1 = 2*5 / (6 + 8) = 10/14
    # neutral:  2 right of 6 predicted (2/6), of 4 gold (2/4); F1 = 2*2 / (6 + 4) = 0.4
    # positive: 6 right of 9 predicted (6/9), of 9 gold (6/9); F1 = 12/18
    # mixed:    never predicted, never gold: 0 everywhere rather than a division by zero
    assert report["per_class"] == {
        "negative": {"precision": 0.8333, "recall": 0.625, "f1": 0.7143, "support": 8},
        "neutral": {"precision": 0.3333, "recall": 0.5, "f1": 0.4, "support": 4},
        "positive": {"precision": 0.6667, "recall": 0.6667, "f1": 0.6667, "support": 9},
        "mixed": {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 0},
    }


def test_accuracy_counts_and_matrix_by_hand(report):
    assert report["reviews_with_gold"] == 21  # 8 + 4 + 9: neither the unlabelled review nor the unknown labels
    assert report["accuracy"] == 0.619  # (5 + 2 + 6) / 21 = 0.61905
    assert report["confusion_matrix"] == {"labels": list(LABELS), "rows_gold_columns_predicted": COUNTS}
    assert report["gold_not_in_labels"] == 2


def test_precision_and_recall_are_not_swapped():
    """Two labels where precision and recall differ for each: negative is predicted 4 times (3 right) and gold 3
    times; positive predicted once (right) and gold twice."""
    confusion = Confusion(("negative", "positive"))
    for gold, predicted in [("negative", "negative")] * 3 + [("positive", "negative"), ("positive", "positive")]:
        confusion.add(gold, predicted)
    per_class = confusion.report()["per_class"]
    assert (per_class["negative"]["precision"], per_class["negative"]["recall"]) == (0.75, 1.0)
    assert (per_class["positive"]["precision"], per_class["positive"]["recall"]) == (1.0, 0.5)
    assert per_class["negative"]["f1"] == 0.8571 and per_class["positive"]["f1"] == 0.6667  # 6/7, 2/3
