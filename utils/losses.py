"""The losses the book teaches, written from scratch as ``nn.Module`` classes.

Each takes the same arguments as its PyTorch counterpart where one exists and
returns the same values and gradients (the tests check both). All work on raw
logits through log-sum-exp, so very large or very negative logits stay finite.
Half-precision inputs are computed in float32 and returned in their own dtype.
"""

from __future__ import annotations

import torch
from torch import nn

REDUCTIONS = ("none", "mean", "sum")


def check_logits(logits: torch.Tensor, name: str = "input") -> None:
    """Raise a clear error unless ``logits`` is a floating (N, C) tensor without NaN."""
    if not torch.is_floating_point(logits):
        raise TypeError(f"{name} must be floating point logits, got {logits.dtype}.")
    if logits.dim() != 2:
        raise ValueError(
            f"{name} must have shape (batch, classes), got {tuple(logits.shape)}."
        )
    if torch.isnan(logits).any():
        raise ValueError(f"{name} contains NaN; check the model's output and the data.")


def check_class_targets(target: torch.Tensor, num_classes: int, batch: int,
                        ignore_index: int = -100) -> None:
    """Raise a clear error unless ``target`` holds valid class indices."""
    if target.dtype not in (torch.int64, torch.int32, torch.uint8, torch.int16):
        raise TypeError(
            f"target must hold class indices (integers), got {target.dtype}; "
            "pass probabilities with the same shape as the input instead."
        )
    if target.shape != (batch,):
        raise ValueError(f"target must have shape ({batch},), got {tuple(target.shape)}.")
    valid = (target == ignore_index) | ((target >= 0) & (target < num_classes))
    if not valid.all():
        bad = target[~valid][0].item()
        raise ValueError(
            f"target contains {bad}, outside [0, {num_classes}) and not the "
            f"ignore_index {ignore_index}; labels must be relabelled 0..{num_classes - 1}."
        )


def _reduce(losses: torch.Tensor, reduction: str, denominator=None) -> torch.Tensor:
    """Apply ``reduction``; ``mean`` divides by ``denominator`` when one is given."""
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    if reduction == "mean":
        total = losses.sum()
        return total / denominator if denominator is not None else losses.mean()
    raise ValueError(f"reduction={reduction!r}; use one of {REDUCTIONS}.")


def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Return ``log(softmax(logits))`` along dimension 1, computed stably.

    Subtracting the log-sum-exp (which itself subtracts the maximum) keeps every
    exponent at most zero, so no ``exp`` overflows to infinity.
    """
    maximum = logits.amax(dim=1, keepdim=True).detach()
    shifted = logits - maximum
    return shifted - shifted.exp().sum(dim=1, keepdim=True).log()


def cross_entropy(logits, target, weight=None, ignore_index=-100,
                  reduction="mean", label_smoothing=0.0) -> torch.Tensor:
    """Softmax cross-entropy with class-index or probability targets.

    Same semantics as ``torch.nn.functional.cross_entropy`` for (N, C) inputs.
    """
    check_logits(logits)
    batch, num_classes = logits.shape
    log_probs = log_softmax(logits.float())
    weights = torch.ones(num_classes, device=logits.device) if weight is None \
        else weight.float()
    if torch.is_floating_point(target):  # probabilities ("soft" targets)
        if target.shape != logits.shape:
            raise ValueError(f"probability target must have shape {tuple(logits.shape)},"
                             f" got {tuple(target.shape)}.")
        target = target.float() * (1 - label_smoothing) + label_smoothing / num_classes
        losses = -(target * log_probs * weights).sum(dim=1)
        return _reduce(losses, reduction).to(logits.dtype)
    check_class_targets(target, num_classes, batch, ignore_index)
    keep = target != ignore_index
    safe_target = torch.where(keep, target, 0).long()
    picked = log_probs.gather(1, safe_target[:, None]).squeeze(1)
    target_weight = weights[safe_target] * keep
    losses = -(1 - label_smoothing) * target_weight * picked
    if label_smoothing > 0:
        uniform = -(log_probs * weights).sum(dim=1) * keep
        losses = losses + label_smoothing / num_classes * uniform
    return _reduce(losses, reduction, target_weight.sum()).to(logits.dtype)


class CrossEntropyLoss(nn.Module):
    """From-scratch twin of ``nn.CrossEntropyLoss``: it takes logits, not probabilities."""

    def __init__(self, weight=None, ignore_index=-100, reduction="mean",
                 label_smoothing=0.0) -> None:
        super().__init__()
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"label_smoothing must lie in [0, 1], got {label_smoothing}.")
        self.register_buffer("weight", weight)
        self.ignore_index, self.reduction = ignore_index, reduction
        self.label_smoothing = label_smoothing

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return cross_entropy(logits, target, self.weight, self.ignore_index,
                             self.reduction, self.label_smoothing)


class MSEOnProbabilitiesLoss(nn.Module):
    """Mean squared error between ``softmax(logits)`` and the one-hot target.

    Equal to ``nn.MSELoss()(softmax(logits), one_hot(target))``: the mean is over
    batch and classes, so it is the Brier score divided by the number of classes.
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_logits(logits)
        check_class_targets(target, logits.shape[1], logits.shape[0])
        probs = log_softmax(logits.float()).exp()
        one_hot = nn.functional.one_hot(target.long(), logits.shape[1]).float()
        return _reduce((probs - one_hot) ** 2, self.reduction).to(logits.dtype)


def binary_cross_entropy_with_logits(logits, target, weight=None, reduction="mean",
                                     pos_weight=None) -> torch.Tensor:
    """Sigmoid binary cross-entropy on logits, stable for any logit size.

    ``-[t log s(x) + (1 - t) log(1 - s(x))]`` rewritten as
    ``(1 - t) x + (1 + (w - 1) t) softplus(-x)``, where ``w`` is ``pos_weight``
    and ``softplus(-x) = max(-x, 0) + log(1 + exp(-|x|))`` never overflows.
    """
    if not torch.is_floating_point(logits):
        raise TypeError(f"input must be floating point logits, got {logits.dtype}.")
    if target.shape != logits.shape:
        raise ValueError(f"target must have the input's shape {tuple(logits.shape)}, "
                         f"got {tuple(target.shape)}.")
    if torch.isnan(logits).any():
        raise ValueError("input contains NaN; check the model's output and the data.")
    x, t = logits.float(), target.float()
    softplus_minus_x = (-x).clamp(min=0) + torch.log1p(torch.exp(-x.abs()))
    log_weight = 1 if pos_weight is None else 1 + (pos_weight.float() - 1) * t
    losses = (1 - t) * x + log_weight * softplus_minus_x
    if weight is not None:
        losses = losses * weight.float()
    return _reduce(losses, reduction).to(logits.dtype)


class BCEWithLogitsLoss(nn.Module):
    """From-scratch twin of ``nn.BCEWithLogitsLoss`` (targets shaped like the input)."""

    def __init__(self, weight=None, reduction="mean", pos_weight=None) -> None:
        super().__init__()
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return binary_cross_entropy_with_logits(logits, target, self.weight,
                                                self.reduction, self.pos_weight)


class OneVsRestBCELoss(BCEWithLogitsLoss):
    """Binary cross-entropy of each class against the rest, from class indices.

    Each of the C outputs is an independent yes/no question; the loss is the
    mean over batch and classes, as ``nn.BCEWithLogitsLoss`` on one-hot targets.
    """

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_logits(logits)
        check_class_targets(target, logits.shape[1], logits.shape[0])
        one_hot = nn.functional.one_hot(target.long(), logits.shape[1]).to(logits.dtype)
        return super().forward(logits, one_hot)


class KLDivLoss(nn.Module):
    """From-scratch twin of ``nn.KLDivLoss``: input is log-probabilities.

    Pointwise ``target * (log(target) - input)``, zero where the target is zero.
    Use ``reduction="batchmean"`` for the true KL divergence per example.
    """

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__()
        if reduction not in REDUCTIONS + ("batchmean",):
            raise ValueError(f"reduction={reduction!r}; use batchmean, mean, sum or none.")
        self.reduction, self.log_target = reduction, log_target

    def forward(self, log_input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.shape != log_input.shape:
            raise ValueError(f"target must have the input's shape "
                             f"{tuple(log_input.shape)}, got {tuple(target.shape)}.")
        if torch.isnan(log_input).any():
            raise ValueError("input contains NaN; it must be log-probabilities.")
        x, t = log_input.float(), target.float()
        if self.log_target:
            losses = t.exp() * (t - x)
        else:
            losses = torch.xlogy(t, t) - t * x
        if self.reduction == "batchmean":
            return (losses.sum() / log_input.shape[0]).to(log_input.dtype)
        return _reduce(losses, self.reduction).to(log_input.dtype)


class DistillationLoss(nn.Module):
    """Hinton-style distillation: soft teacher targets at temperature T, plus labels.

    ``alpha * T**2 * KL(softmax(teacher / T) || softmax(student / T))
    + (1 - alpha) * CE(student, labels)``. The ``T**2`` keeps the soft term's
    gradients the same size whatever the temperature.
    """

    def __init__(self, temperature: float = 4.0, alpha: float = 0.5) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}.")
        self.temperature, self.alpha = temperature, alpha
        self.kl = KLDivLoss(reduction="batchmean", log_target=True)

    def forward(self, logits, target, teacher_logits) -> torch.Tensor:
        check_logits(logits)
        check_logits(teacher_logits, "teacher_logits")
        student = log_softmax(logits.float() / self.temperature)
        teacher = log_softmax(teacher_logits.float() / self.temperature)
        soft = self.kl(student, teacher) * self.temperature ** 2
        hard = cross_entropy(logits, target)
        return self.alpha * soft + (1 - self.alpha) * hard


class FocalLoss(nn.Module):
    """Focal loss ``-(1 - p_t)**gamma * log(p_t)`` on softmax probabilities.

    With ``gamma=0`` it is exactly cross-entropy (with the same ``weight``,
    ``ignore_index`` and mean over the target weights).
    """

    def __init__(self, gamma: float = 2.0, weight=None, ignore_index: int = -100,
                 reduction: str = "mean") -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be at least 0, got {gamma}.")
        self.gamma, self.ignore_index, self.reduction = gamma, ignore_index, reduction
        self.register_buffer("weight", weight)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_logits(logits)
        batch, num_classes = logits.shape
        check_class_targets(target, num_classes, batch, self.ignore_index)
        keep = target != self.ignore_index
        safe_target = torch.where(keep, target, 0).long()
        log_pt = log_softmax(logits.float()).gather(1, safe_target[:, None]).squeeze(1)
        # 1 - p_t via expm1 keeps precision when p_t is close to 1; the guarded
        # power avoids 0 ** (gamma - 1) in the gradient when p_t is exactly 1.
        one_minus_pt = (-torch.expm1(log_pt)).clamp(min=0)
        positive = one_minus_pt > 0
        safe_base = torch.where(positive, one_minus_pt, torch.ones_like(one_minus_pt))
        at_zero = 1.0 if self.gamma == 0 else 0.0
        modulator = torch.where(positive, safe_base ** self.gamma,
                                torch.full_like(one_minus_pt, at_zero))
        weights = torch.ones(num_classes, device=logits.device) if self.weight is None \
            else self.weight.float()
        target_weight = weights[safe_target] * keep
        losses = -target_weight * modulator * log_pt
        return _reduce(losses, self.reduction, target_weight.sum()).to(logits.dtype)
