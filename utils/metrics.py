"""Measurements of a trained classifier from its logits: no training here.

Accuracy says how often the top class is right; negative log-likelihood and
expected calibration error (ECE) say whether the confidence can be believed.
"""

from __future__ import annotations

import torch


def _check(logits: torch.Tensor,
           labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    logits, labels = logits.detach().float().cpu(), labels.detach().cpu().long()
    if logits.dim() != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"Expected logits (N, C) and labels (N,), got "
                         f"{tuple(logits.shape)} and {tuple(labels.shape)}.")
    if labels.numel() and (labels.min() < 0 or labels.max() >= logits.shape[1]):
        raise ValueError(f"labels must lie in [0, {logits.shape[1]}).")
    return logits, labels


def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Return the fraction (0 to 1) of examples whose top class is the label."""
    logits, labels = _check(logits, labels)
    return (logits.argmax(1) == labels).float().mean().item()


def negative_log_likelihood(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Return the mean of ``-log p(label)``, in nats."""
    logits, labels = _check(logits, labels)
    return torch.nn.functional.cross_entropy(logits, labels).item()


def reliability_bins(logits: torch.Tensor, labels: torch.Tensor,
                     num_bins: int = 15) -> dict[str, torch.Tensor]:
    """Group examples by confidence into equal-width bins.

    Returns:
        ``edges`` (num_bins + 1), and per bin ``count``, mean ``confidence`` and
        ``accuracy`` (NaN for an empty bin).
    """
    logits, labels = _check(logits, labels)
    confidence, predicted = logits.softmax(1).max(1)
    correct = (predicted == labels).float()
    edges = torch.linspace(0, 1, num_bins + 1)
    # Bin b holds confidences in (edges[b], edges[b + 1]].
    which = torch.clamp(torch.bucketize(confidence, edges[1:-1], right=False),
                        0, num_bins - 1)
    count = torch.bincount(which, minlength=num_bins).float()
    confidence_sum = torch.bincount(which, confidence, minlength=num_bins)
    correct_sum = torch.bincount(which, correct, minlength=num_bins)
    return {
        "edges": edges,
        "count": count,
        "confidence": confidence_sum / count,
        "accuracy": correct_sum / count,
    }


def expected_calibration_error(logits: torch.Tensor, labels: torch.Tensor,
                               num_bins: int = 15) -> float:
    """Return ECE: the count-weighted mean gap between confidence and accuracy."""
    bins = reliability_bins(logits, labels, num_bins)
    filled = bins["count"] > 0
    gaps = (bins["confidence"][filled] - bins["accuracy"][filled]).abs()
    return (gaps * bins["count"][filled]).sum().item() / bins["count"].sum().item()


def confusion_matrix(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Return counts (C, C): row = true class, column = predicted class."""
    logits, labels = _check(logits, labels)
    num_classes = logits.shape[1]
    flat = labels * num_classes + logits.argmax(1)
    counts = torch.bincount(flat, minlength=num_classes ** 2)
    return counts.view(num_classes, num_classes)


def summarize(logits: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    """Return accuracy, negative log-likelihood and ECE in one dictionary."""
    return {
        "accuracy": accuracy(logits, labels),
        "nll": negative_log_likelihood(logits, labels),
        "ece": expected_calibration_error(logits, labels),
    }
