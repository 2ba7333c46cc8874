"""Classification metrics from a running confusion matrix, and calibration metrics from running per-bin sums:
constant memory however many reviews are scored."""

from collections import Counter

import numpy as np


class Confusion:
    """counts[gold, predicted] over the bundle's labels; reviews whose gold label is not one of them are counted
    apart (`unknown_gold`), not guessed at."""

    def __init__(self, labels):
        self.labels = tuple(labels)
        self.counts = np.zeros((len(self.labels), len(self.labels)), dtype=np.int64)
        self.unknown_gold = 0
        self.unknown_labels = Counter()  # gold label not among the model's -> reviews
        self.reliability = Reliability()

    def add(self, gold: str | None, predicted: str, probabilities: dict | None = None):
        """One scored review; with its `probabilities` ({label: p}) it counts towards the calibration metrics."""
        if gold is None:
            return
        if gold not in self.labels:
            self.unknown_gold += 1
            self.unknown_labels[gold] += 1
            return
        self.counts[self.labels.index(gold), self.labels.index(predicted)] += 1
        if probabilities is not None:
            self.reliability.add([[float(probabilities[label]) for label in self.labels]],
                                 [self.labels.index(gold)])

    @property
    def total(self) -> int:
        return int(self.counts.sum())

    def report(self) -> dict:
        """accuracy, per-class precision/recall/F1/support, and the confusion matrix (rows gold, columns predicted)."""
        correct = np.diag(self.counts)
        predicted_totals, gold_totals = self.counts.sum(axis=0), self.counts.sum(axis=1)
        per_class = {}
        for i, label in enumerate(self.labels):
            precision = correct[i] / predicted_totals[i] if predicted_totals[i] else 0.0
            recall = correct[i] / gold_totals[i] if gold_totals[i] else 0.0
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            per_class[label] = {"precision": round(float(precision), 4), "recall": round(float(recall), 4),
                                "f1": round(float(f1), 4), "support": int(gold_totals[i])}
        return {"reviews_with_gold": self.total,
                "accuracy": round(float(correct.sum() / self.total), 4) if self.total else None,
                "per_class": per_class,
                "confusion_matrix": {"labels": list(self.labels), "rows_gold_columns_predicted":
                                     self.counts.tolist()},
                **({"gold_not_in_labels": self.unknown_gold,
                    "gold_labels_not_in_model": dict(sorted(self.unknown_labels.items()))}
                   if self.unknown_gold else {}),
                **({"calibration": self.reliability.report()} if self.reliability.total else {})}


def row_probabilities(row: dict, labels) -> dict | None:
    """{label: p} of a results row written earlier (read back by --resume), None if the row does not carry them."""
    if not all(f"p_{label}" in row for label in labels):
        return None
    return {label: row[f"p_{label}"] for label in labels}


def format_report(report: dict) -> str:
    """The report as a few human-readable lines."""
    labels = report["confusion_matrix"]["labels"]
    width = max(len(label) for label in labels) + 2
    lines = [_accuracy_line(report)]
    if report["accuracy"] is None:
        return lines[0]
    for label, row in report["per_class"].items():
        lines.append(f"  {label:<{width}} precision {row['precision']:.4f}  recall {row['recall']:.4f}  "
                     f"F1 {row['f1']:.4f}  ({row['support']} reviews)")
    lines.append("  confusion (rows gold, columns predicted): " + " | ".join(labels))
    for label, row in zip(labels, report["confusion_matrix"]["rows_gold_columns_predicted"]):
        lines.append(f"  {label:<{width}} " + " ".join(f"{n:>8}" for n in row))
    if "calibration" in report:
        lines.append(format_calibration(report["calibration"]))
    return "\n".join(lines)


def _accuracy_line(report: dict) -> str:
    """Accuracy, on how many reviews, and how many more carried a gold label the model does not have."""
    measured, apart = report["reviews_with_gold"], report.get("gold_not_in_labels", 0)
    if not apart:
        return f"accuracy {report['accuracy']:.4f} on {measured} reviews with a gold label"
    lacking = ", ".join(f"{label} ({count})" for label, count in report["gold_labels_not_in_model"].items())
    if report["accuracy"] is None:
        return f"no accuracy: all {apart} reviews with a gold label have one the model lacks: {lacking}"
    return (f"accuracy {report['accuracy']:.4f} on {measured} of the {measured + apart} reviews with a gold label "
            f"({apart} have a gold label the model lacks, left out of the metrics: {lacking})")


# --- calibration: do the probabilities mean what they say? ---------------------------------------------------------
# Definitions (Guo et al. 2017; Brier 1950), over N texts with gold label index y_i and probabilities p_i:
#   ECE   = sum over 15 equal-width bins of the top probability: (texts in bin / N) x |accuracy - mean top p|
#   NLL   = mean of -ln p_i[y_i]                       (what calibration minimizes)
#   Brier = mean of sum_k (p_i[k] - [k == y_i])^2      (the multi-class form: 2x the binary one for 2 labels)

ECE_BINS = 15


def ece(probabilities, gold) -> float:
    return Reliability.of(probabilities, gold).ece()


def nll(probabilities, gold) -> float:
    p = np.asarray(probabilities, dtype=np.float64)[np.arange(len(gold)), np.asarray(gold)]
    return float(-np.mean(np.log(np.maximum(p, 1e-12))))


def brier(probabilities, gold) -> float:
    p = np.asarray(probabilities, dtype=np.float64)
    one_hot = np.eye(p.shape[1])[np.asarray(gold)]
    return float(np.mean(((p - one_hot) ** 2).sum(axis=1)))


class Reliability:
    """Running per-bin counts, accuracies and confidences of the top probability, plus NLL and Brier sums: the
    calibration metrics of any number of texts in constant memory (as `Confusion` keeps accuracy)."""

    def __init__(self, bins: int = ECE_BINS):
        self.count = np.zeros(bins, dtype=np.int64)
        self.correct = np.zeros(bins, dtype=np.int64)
        self.confidence = np.zeros(bins)
        self.nll_sum = self.brier_sum = 0.0

    @classmethod
    def of(cls, probabilities, gold) -> "Reliability":
        reliability = cls()
        reliability.add(probabilities, gold)
        return reliability

    def add(self, probabilities, gold):
        """probabilities [texts, labels] and gold label indices [texts]."""
        p = np.asarray(probabilities, dtype=np.float64).reshape(len(gold), -1)
        gold = np.asarray(gold, dtype=np.int64)
        if not len(gold):
            return
        top = p.max(axis=1)
        bins = np.minimum((top * len(self.count)).astype(np.int64), len(self.count) - 1)
        np.add.at(self.count, bins, 1)
        np.add.at(self.correct, bins, (p.argmax(axis=1) == gold).astype(np.int64))
        np.add.at(self.confidence, bins, top)
        self.nll_sum += nll(p, gold) * len(gold)
        self.brier_sum += brier(p, gold) * len(gold)

    @property
    def total(self) -> int:
        return int(self.count.sum())

    def ece(self) -> float:
        filled = self.count > 0
        gaps = np.abs(self.correct[filled] - self.confidence[filled])  # per bin: count x |accuracy - confidence|
        return float(gaps.sum() / self.total) if self.total else 0.0

    def report(self) -> dict:
        """ECE, NLL, Brier, mean top probability and the reliability diagram's bins."""
        width = 1 / len(self.count)
        return {"ece": round(self.ece(), 4), "nll": round(self.nll_sum / self.total, 4),
                "brier": round(self.brier_sum / self.total, 4),
                "mean_confidence": round(float(self.confidence.sum() / self.total), 4),
                "bins": [{"from": round(i * width, 4), "to": round((i + 1) * width, 4), "count": int(n),
                          "accuracy": round(float(c / n), 4) if n else None,
                          "confidence": round(float(s / n), 4) if n else None}
                         for i, (n, c, s) in enumerate(zip(self.count, self.correct, self.confidence))]}


def format_calibration(report: dict) -> str:
    return (f"calibration: ECE {report['ece']:.4f} (15 bins)  NLL {report['nll']:.4f}  Brier {report['brier']:.4f}"
            f"  mean top probability {report['mean_confidence']:.4f}")
