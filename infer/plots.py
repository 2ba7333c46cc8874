"""`score --plot`: the reliability diagram (accuracy and count per confidence bin) beside the confusion matrix.

A well-calibrated model's bars sit on the diagonal: of the answers given with probability ~0.8, 80 % are right.
matplotlib comes with the bench extra; without it, the CLI's missing-extra error says how to install it.
"""

import os
from pathlib import Path


def reliability_plot(report: dict, png, title: str = ""):
    """Draw `Confusion.report()` (with its "calibration" part) into `png`, atomically (a .partial file renamed)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    calibration, confusion = report["calibration"], report["confusion_matrix"]
    bins = [b for b in calibration["bins"]]
    figure, (diagram, counts, matrix) = plt.subplots(1, 3, figsize=(14, 4.4),
                                                     gridspec_kw={"width_ratios": [1.2, 1.2, 1]})
    centres = [(b["from"] + b["to"]) / 2 for b in bins]
    width = bins[0]["to"] - bins[0]["from"]
    filled = [b for b in bins if b["count"]]
    diagram.bar([(b["from"] + b["to"]) / 2 for b in filled], [b["accuracy"] for b in filled], width=width * 0.9,
                color="tab:blue", label="accuracy in bin")
    diagram.bar([(b["from"] + b["to"]) / 2 for b in filled], [b["confidence"] - b["accuracy"] for b in filled],
                bottom=[b["accuracy"] for b in filled], width=width * 0.9, color="tab:red", alpha=0.3,
                label="gap to mean confidence")
    diagram.plot([0, 1], [0, 1], color="gray", linestyle="--", label="perfect calibration")
    diagram.set(xlim=(0, 1), ylim=(0, 1), xlabel="top probability", ylabel="accuracy",
                title=f"Reliability: ECE {calibration['ece']:.3f}, NLL {calibration['nll']:.3f}")
    diagram.legend(fontsize=8, loc="upper left")
    counts.bar(centres, [b["count"] for b in bins], width=width * 0.9, color="tab:gray")
    counts.set(xlim=(0, 1), yscale="log", xlabel="top probability", ylabel="reviews (log scale)",
               title="Reviews per confidence bin")
    labels, cells = confusion["labels"], confusion["rows_gold_columns_predicted"]
    matrix.imshow(cells, cmap="Blues")
    for i, row in enumerate(cells):
        for j, n in enumerate(row):
            matrix.text(j, i, f"{n:,}", ha="center", va="center",
                        color="white" if n > max(map(max, cells)) / 2 else "black")
    matrix.set_xticks(range(len(labels)), labels=labels)
    matrix.set_yticks(range(len(labels)), labels=labels)
    matrix.set(xlabel="predicted", ylabel="gold", title=f"Confusion (accuracy {report['accuracy']:.4f})")
    if title:
        figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    png = Path(png)
    partial = png.with_name(png.name + ".partial.png")
    figure.savefig(partial, dpi=100)
    plt.close(figure)
    os.replace(partial, png)
