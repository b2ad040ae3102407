"""Pictures of data, training runs and calibration; no training happens here.

Every function draws on a Matplotlib ``Axes`` (made for you when none is
given) and returns it, so a notebook can add a title or combine panels.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import torch

from utils.data import ImageSet
from utils.metrics import confusion_matrix, reliability_bins


def _axes(ax, figsize=(5, 3.5)):
    return ax if ax is not None else plt.subplots(figsize=figsize)[1]


def show_images(data: ImageSet, per_class: int = 6, ax=None):
    """Show the first ``per_class`` images of every class, one row per class."""
    rows = []
    for label in range(len(data.classes)):
        members = torch.nonzero(data.labels.cpu() == label).flatten()[:per_class]
        rows.append(torch.cat(list(data.images[members].cpu()), dim=2))
    grid = torch.cat(rows, dim=1).permute(1, 2, 0).numpy()
    ax = _axes(ax, figsize=(per_class * 0.9, len(data.classes) * 0.9))
    ax.imshow(grid, interpolation="nearest")
    ax.set_yticks([32 * i + 16 for i in range(len(data.classes))], data.classes)
    ax.set_xticks([])
    return ax


def plot_histories(histories: dict[str, dict], metric: str = "test_accuracy",
                   ax=None, ylabel: str | None = None):
    """Plot one metric per epoch for several runs (``{label: history dict}``)."""
    ax = _axes(ax)
    for label, history in histories.items():
        epochs = [record["epoch"] for record in history["epochs"]]
        ax.plot(epochs, [record[metric] for record in history["epochs"]],
                marker="o", label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel or metric.replace("_", " "))
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def reliability_diagram(logits: torch.Tensor, labels: torch.Tensor, num_bins: int = 10,
                        ax=None, title: str | None = None):
    """Draw accuracy against confidence per bin; the diagonal is perfect calibration."""
    ax = _axes(ax, figsize=(3.5, 3.5))
    bins = reliability_bins(logits, labels, num_bins)
    centres = (bins["edges"][:-1] + bins["edges"][1:]) / 2
    filled = bins["count"] > 0
    ax.bar(centres[filled], bins["accuracy"][filled], width=1 / num_bins,
           edgecolor="black", alpha=0.7, label="accuracy")
    ax.plot([0, 1], [0, 1], linestyle="--", color="gray", label="perfect")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (top-class probability)")
    ax.set_ylabel("accuracy in bin")
    if title:
        ax.set_title(title)
    ax.legend(loc="upper left")
    return ax


def plot_confusion(logits: torch.Tensor, labels: torch.Tensor, classes, ax=None,
                   title: str | None = None):
    """Draw the confusion matrix with counts: rows true, columns predicted."""
    ax = _axes(ax, figsize=(4, 4))
    counts = confusion_matrix(logits, labels)
    ax.imshow(counts, cmap="Blues")
    for row in range(len(classes)):
        for column in range(len(classes)):
            value = counts[row, column].item()
            color = "white" if value > counts.max().item() / 2 else "black"
            ax.text(column, row, value, ha="center", va="center", color=color,
                    fontsize=8)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    return ax
