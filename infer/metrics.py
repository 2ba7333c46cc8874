"""Classification metrics from a running confusion matrix: constant memory however many reviews are scored."""

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

    def add(self, gold: str | None, predicted: str):
        if gold is None:
            return
        if gold not in self.labels:
            self.unknown_gold += 1
            self.unknown_labels[gold] += 1
            return
        self.counts[self.labels.index(gold), self.labels.index(predicted)] += 1

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
                   if self.unknown_gold else {})}


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
