"""Pictures of data, training runs, calibration and loss curves; no training here.

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


def loss_by_margin(loss_fn, margins: torch.Tensor, num_classes: int = 10,
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """Return a loss and its slope along the correct logit, for each margin.

    Class 0 is the correct class; its logit is the margin and every other logit
    is zero, so the margin is how far the correct logit leads (or trails) the rest.

    Args:
        loss_fn: called as ``loss_fn(logits, target)`` on one example (1, C);
            must return a scalar, the loss of that example.
        margins: 1-D tensor of margins, in logit units.
        num_classes: number of classes C (at least 2).

    Returns:
        ``(losses, gradients)``, each shaped like ``margins``: the loss and its
        derivative with respect to the correct class's logit.
    """
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2, got {num_classes}.")
    if margins.dim() != 1:
        raise ValueError(f"margins must be 1-D, got shape {tuple(margins.shape)}.")
    logits = torch.zeros(len(margins), num_classes, dtype=torch.float64)
    logits[:, 0] = margins.to(torch.float64)
    logits.requires_grad_(True)
    target = torch.zeros(1, dtype=torch.int64)
    # One call per example keeps any reduction of loss_fn out of the picture.
    losses = torch.stack([loss_fn(logits[row:row + 1], target).reshape(())
                          for row in range(len(margins))])
    (gradients,) = torch.autograd.grad(losses.sum(), logits)
    return losses.detach(), gradients[:, 0]


def plot_curves(x: torch.Tensor, curves: dict[str, torch.Tensor], xlabel: str,
                ylabel: str, ax=None, log_y: bool = False, title: str | None = None):
    """Draw several curves over the same x values, one labelled line each.

    Args:
        x: 1-D tensor of x values.
        curves: ``{label: y values}``, each shaped like ``x``.
        xlabel, ylabel: axis labels; say the units.
        ax: the Axes to draw on (a new one when ``None``).
        log_y: use a logarithmic y axis.
        title: an optional title.

    Returns:
        The Axes.
    """
    ax = _axes(ax)
    for label, values in curves.items():
        if values.shape != x.shape:
            raise ValueError(f"curve {label!r} has shape {tuple(values.shape)}, "
                             f"but x has shape {tuple(x.shape)}; give one y per x.")
        ax.plot(x.detach().cpu().numpy(), values.detach().cpu().numpy(), label=label)
    if log_y:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def show_image_rows(rows: dict[str, torch.Tensor], ax=None):
    """Show batches of uint8 images (N, 3, H, W) side by side, one row per batch.

    Args:
        rows: ``{row label: images}``; every batch must have the same shape.
        ax: the Axes to draw on (a new one when ``None``).

    Returns:
        The Axes, with the row labels on the y axis.
    """
    shapes = {tuple(images.shape) for images in rows.values()}
    if len(shapes) != 1:
        raise ValueError(f"every row needs the same batch shape, got {sorted(shapes)}.")
    count, _, height, width = shapes.pop()
    strips = [torch.cat(list(images.detach().cpu()), dim=2) for images in rows.values()]
    grid = torch.cat(strips, dim=1).permute(1, 2, 0).numpy()
    ax = _axes(ax, figsize=(count * 1.3, len(rows) * 1.3 + 0.6))
    ax.imshow(grid, interpolation="nearest")
    ax.set_yticks([height * i + height // 2 for i in range(len(rows))], list(rows))
    ax.set_xticks([width * i + width // 2 for i in range(count)], range(count))
    ax.set_xlabel(f"image ({width} x {height} pixels each)")
    return ax
