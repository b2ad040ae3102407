"""The losses the book teaches, written from scratch as ``nn.Module`` classes.

Each takes the same arguments as its PyTorch counterpart where one exists and
returns the same values and gradients (``tests/test_losses.py`` checks both).
All work on raw logits through log-sum-exp, so very large or very negative
logits stay finite. float16 and bfloat16 inputs are computed in float32 and the
result is returned in the input's dtype; float64 stays float64 (for gradcheck).
Bad input (a wrong shape, a label out of range, NaN, integer logits, an unknown
reduction) raises an error that names the argument, never a silent wrong number.
"""

from __future__ import annotations

import torch
from torch import nn

REDUCTIONS = ("none", "mean", "sum")
_INTEGER_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def _compute_dtype(tensor: torch.Tensor) -> torch.dtype:
    """Return float32 for half-precision tensors, otherwise the tensor's own dtype."""
    return torch.float32 if tensor.dtype in (torch.float16, torch.bfloat16) \
        else tensor.dtype


def _check_reduction(reduction: str, allowed: tuple[str, ...] = REDUCTIONS) -> None:
    """Raise a clear error unless ``reduction`` is one of ``allowed``."""
    if reduction not in allowed:
        raise ValueError(f"reduction={reduction!r} is not known; use one of {allowed}.")


def _check_smoothing(label_smoothing: float) -> None:
    """Raise a clear error unless ``label_smoothing`` lies in [0, 1]."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing must lie in [0, 1], got {label_smoothing}.")


def _check_no_nan(tensor: torch.Tensor, name: str) -> None:
    """Raise a clear error if a floating tensor holds NaN."""
    if torch.is_floating_point(tensor) and torch.isnan(tensor).any():
        raise ValueError(f"{name} contains NaN; check the model's output and the data.")


def check_logits(logits: torch.Tensor, name: str = "input") -> None:
    """Raise a clear error unless ``logits`` is a floating (N, C) tensor of logits.

    NaN and +inf are refused: both make every probability of their row NaN.
    ``-inf`` is allowed (it masks a class), as long as one logit per row is finite.
    """
    if not isinstance(logits, torch.Tensor) or not torch.is_floating_point(logits):
        kind = logits.dtype if isinstance(logits, torch.Tensor) else type(logits)
        raise TypeError(f"{name} must be a floating point tensor of logits, got "
                        f"{kind}; convert it with .float().")
    if logits.dim() != 2:
        raise ValueError(f"{name} must have shape (batch, classes), got "
                         f"{tuple(logits.shape)}; flatten extra dimensions first.")
    _check_no_nan(logits, name)
    if logits.numel() and not torch.isfinite(logits.amax(dim=1)).all():
        raise ValueError(f"{name} has a row whose largest logit is +inf or -inf; "
                         "each row needs a finite maximum.")


def check_class_targets(target: torch.Tensor, num_classes: int, batch: int,
                        ignore_index: int | None = -100) -> None:
    """Raise a clear error unless ``target`` holds valid class indices.

    ``ignore_index=None`` means that no label may be skipped.
    """
    if not isinstance(target, torch.Tensor) or target.dtype not in _INTEGER_DTYPES:
        kind = target.dtype if isinstance(target, torch.Tensor) else type(target)
        raise TypeError(f"target must hold class indices (integers), got {kind}; "
                        "for probability targets pass floats shaped like the input.")
    if target.shape != (batch,):
        raise ValueError(f"target must have shape ({batch},), one label per row "
                         f"of the input, got {tuple(target.shape)}.")
    valid = (target >= 0) & (target < num_classes)
    if ignore_index is not None:
        valid |= target == ignore_index
    if not valid.all():
        bad = target[~valid][0].item()
        skip = "" if ignore_index is None else f" and not ignore_index {ignore_index}"
        raise ValueError(f"target contains {bad}, outside [0, {num_classes}){skip}; "
                         f"labels must be relabelled 0..{num_classes - 1}.")


def _class_weights(weight, num_classes: int, like: torch.Tensor) -> torch.Tensor:
    """Return per-class weights shaped (C,) in ``like``'s dtype (ones when ``None``)."""
    if weight is None:
        return torch.ones(num_classes, dtype=like.dtype, device=like.device)
    if weight.shape != (num_classes,):
        raise ValueError(f"weight must have shape ({num_classes},), one value per "
                         f"class, got {tuple(weight.shape)}.")
    return weight.to(like.dtype)


def _reduce(losses: torch.Tensor, reduction: str, denominator=None) -> torch.Tensor:
    """Apply ``reduction``; ``mean`` divides by ``denominator`` when one is given."""
    _check_reduction(reduction)
    if reduction == "none":
        return losses
    if reduction == "sum":
        return losses.sum()
    return losses.sum() / denominator if denominator is not None else losses.mean()


def log_softmax(logits: torch.Tensor) -> torch.Tensor:
    """Return ``log(softmax(logits))`` along dimension 1, computed stably.

    Subtracting each row's maximum first keeps every exponent at most zero, so no
    ``exp`` overflows; the maximum is detached because the result does not
    depend on it, which also keeps the gradient exact. Half precision is
    computed in float32 and returned in its own dtype.
    """
    values = logits.to(_compute_dtype(logits))
    maximum = values.amax(dim=1, keepdim=True).detach()
    shifted = values - maximum
    return (shifted - shifted.exp().sum(dim=1, keepdim=True).log()).to(logits.dtype)


def _soft_cross_entropy(log_probs, target, weights, reduction, label_smoothing):
    """Cross-entropy to probability targets (rows need not sum to one)."""
    if target.shape != log_probs.shape:
        raise ValueError(f"probability target must have the input's shape "
                         f"{tuple(log_probs.shape)}, got {tuple(target.shape)}.")
    _check_no_nan(target, "target")
    num_classes = log_probs.shape[1]
    mixed = target.to(log_probs.dtype) * (1 - label_smoothing) \
        + label_smoothing / num_classes
    # Like PyTorch, the mean is over the batch, not over the class weights.
    return _reduce(-(mixed * log_probs * weights).sum(dim=1), reduction)


def cross_entropy(logits, target, weight=None, ignore_index=-100,
                  reduction="mean", label_smoothing=0.0) -> torch.Tensor:
    """Softmax cross-entropy with class-index or probability targets.

    Same semantics as ``torch.nn.functional.cross_entropy`` for (N, C) inputs.
    With class indices, ``mean`` divides by the summed weights of the targets
    that are not ignored; if every target is ignored that is 0 / 0, so the
    result is NaN, as PyTorch's (``sum`` gives 0).
    """
    check_logits(logits)
    _check_reduction(reduction)
    _check_smoothing(label_smoothing)
    batch, num_classes = logits.shape
    log_probs = log_softmax(logits.to(_compute_dtype(logits)))
    weights = _class_weights(weight, num_classes, log_probs)
    if torch.is_floating_point(target):
        losses = _soft_cross_entropy(log_probs, target, weights, reduction,
                                     label_smoothing)
        return losses.to(logits.dtype)
    check_class_targets(target, num_classes, batch, ignore_index)
    keep = target != ignore_index
    safe_target = torch.where(keep, target, 0).long()
    picked = log_probs.gather(1, safe_target[:, None]).squeeze(1)
    target_weight = weights[safe_target]
    losses = -(1 - label_smoothing) * target_weight * picked
    if label_smoothing > 0:
        # The smoothing term uses every class's weight, as PyTorch does.
        uniform = -(log_probs * weights).sum(dim=1)
        losses = losses + label_smoothing / num_classes * uniform
    # where (not a product with the mask) gives ignored rows an exact zero
    # gradient, even when an all-ignored batch makes the mean 0 / 0.
    losses = torch.where(keep, losses, 0.0)
    denominator = torch.where(keep, target_weight, 0.0).sum()
    return _reduce(losses, reduction, denominator).to(logits.dtype)


class CrossEntropyLoss(nn.Module):
    """From-scratch twin of ``nn.CrossEntropyLoss``: it takes logits, not probabilities.

    With ``reduction="mean"`` and every target equal to ``ignore_index``, the
    loss is NaN (0 / 0), exactly as the built-in's.
    """

    def __init__(self, weight=None, ignore_index=-100, reduction="mean",
                 label_smoothing=0.0) -> None:
        super().__init__()
        _check_reduction(reduction)
        _check_smoothing(label_smoothing)
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
        _check_reduction(reduction)
        self.reduction = reduction

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_logits(logits)
        check_class_targets(target, logits.shape[1], logits.shape[0], ignore_index=None)
        probs = log_softmax(logits.to(_compute_dtype(logits))).exp()
        one_hot = nn.functional.one_hot(target.long(), logits.shape[1]).to(probs.dtype)
        return _reduce((probs - one_hot) ** 2, self.reduction).to(logits.dtype)


def _softplus_of_minus(x: torch.Tensor) -> torch.Tensor:
    """Return ``log(1 + exp(-x))`` as the log-sum-exp of (0, -x), stably.

    The detached shift ``m = max(0, -x)`` keeps both exponents at most zero and
    gives the exact slope ``-sigmoid(-x)`` everywhere, x = 0 included.
    """
    shift = (-x).clamp(min=0).detach()
    return shift + ((-shift).exp() + (-x - shift).exp()).log()


def binary_cross_entropy_with_logits(logits, target, weight=None, reduction="mean",
                                     pos_weight=None) -> torch.Tensor:
    """Sigmoid binary cross-entropy on logits, stable for any logit size.

    ``-[w t log s(x) + (1 - t) log(1 - s(x))]``, with ``w`` the ``pos_weight``,
    rewritten as ``(1 - t) x + (1 + (w - 1) t) softplus(-x)``. ``weight`` and
    ``pos_weight`` broadcast against the input (``pos_weight`` of shape (C,)
    weighs the positives of each class). Targets may be any value in [0, 1].
    """
    if not isinstance(logits, torch.Tensor) or not torch.is_floating_point(logits):
        raise TypeError("input must be a floating point tensor of logits, got "
                        f"{getattr(logits, 'dtype', type(logits))}; use .float().")
    if not isinstance(target, torch.Tensor) or target.shape != logits.shape:
        raise ValueError(f"target must have the input's shape {tuple(logits.shape)}, "
                         f"got {tuple(getattr(target, 'shape', ()))}.")
    _check_reduction(reduction)
    _check_no_nan(logits, "input")
    _check_no_nan(target, "target")
    x = logits.to(_compute_dtype(logits))
    t = target.to(x.dtype)
    log_weight = 1 if pos_weight is None else 1 + (pos_weight.to(x.dtype) - 1) * t
    losses = (1 - t) * x + log_weight * _softplus_of_minus(x)
    if weight is not None:
        losses = losses * weight.to(x.dtype)
    return _reduce(losses, reduction).to(logits.dtype)


class BCEWithLogitsLoss(nn.Module):
    """From-scratch twin of ``nn.BCEWithLogitsLoss`` (targets shaped like the input)."""

    def __init__(self, weight=None, reduction="mean", pos_weight=None) -> None:
        super().__init__()
        _check_reduction(reduction)
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
        check_class_targets(target, logits.shape[1], logits.shape[0], ignore_index=None)
        one_hot = nn.functional.one_hot(target.long(), logits.shape[1]).to(logits.dtype)
        return super().forward(logits, one_hot)


class KLDivLoss(nn.Module):
    """From-scratch twin of ``nn.KLDivLoss``: input is log-probabilities.

    Pointwise ``target * (log(target) - input)``, zero where the target is zero
    (with ``log_target=True`` the target is given as log-probabilities).
    ``reduction="batchmean"`` divides the sum by the batch size: that is the true
    KL divergence per example. ``"mean"`` divides by batch times classes, which is
    C times smaller; PyTorch keeps it only for compatibility.
    """

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__()
        _check_reduction(reduction, REDUCTIONS + ("batchmean",))
        self.reduction, self.log_target = reduction, log_target

    def forward(self, log_input: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if not torch.is_floating_point(log_input):
            raise TypeError("input must be floating point log-probabilities, got "
                            f"{log_input.dtype}; apply log_softmax to the logits.")
        if target.shape != log_input.shape:
            raise ValueError(f"target must have the input's shape "
                             f"{tuple(log_input.shape)}, got {tuple(target.shape)}.")
        _check_no_nan(log_input, "input")
        _check_no_nan(target, "target")
        x = log_input.to(_compute_dtype(log_input))
        t = target.to(x.dtype)
        losses = t.exp() * (t - x) if self.log_target else torch.xlogy(t, t) - t * x
        if self.reduction == "batchmean":
            return (losses.sum() / log_input.shape[0]).to(log_input.dtype)
        return _reduce(losses, self.reduction).to(log_input.dtype)


class DistillationLoss(nn.Module):
    """Hinton-style distillation: soft teacher targets at temperature T, plus labels.

    ``alpha * T**2 * KL(softmax(teacher / T) || softmax(student / T))
    + (1 - alpha) * CE(student, labels)``, the KL with ``batchmean``. Softening
    by T shrinks the soft term's gradients by about 1 / T**2; the ``T**2`` factor
    gives them back their size, so alpha means the same at any temperature.
    """

    def __init__(self, temperature: float = 4.0, alpha: float = 0.5) -> None:
        super().__init__()
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}.")
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha}.")
        self.temperature, self.alpha = temperature, alpha
        self.kl = KLDivLoss(reduction="batchmean", log_target=True)

    def forward(self, logits, target, teacher_logits) -> torch.Tensor:
        check_logits(logits)
        check_logits(teacher_logits, "teacher_logits")
        if teacher_logits.shape != logits.shape:
            raise ValueError("teacher_logits must have the input's shape "
                             f"{tuple(logits.shape)}, got "
                             f"{tuple(teacher_logits.shape)}.")
        dtype = _compute_dtype(logits)
        student = logits.to(dtype)
        teacher = teacher_logits.to(dtype)
        soft = self.kl(log_softmax(student / self.temperature),
                       log_softmax(teacher / self.temperature))
        hard = cross_entropy(student, target)
        loss = self.alpha * self.temperature ** 2 * soft + (1 - self.alpha) * hard
        return loss.to(logits.dtype)


class FocalLoss(nn.Module):
    """Focal loss ``-(1 - p_t)**gamma * log(p_t)`` on softmax probabilities.

    With ``gamma=0`` it is exactly cross-entropy (with the same ``weight``,
    ``ignore_index`` and mean over the target weights, NaN when every target is
    ignored). At ``p_t = 1`` the loss and its gradient are 0, at ``p_t = 0`` both
    stay finite, for any ``gamma >= 0``.
    """

    def __init__(self, gamma: float = 2.0, weight=None, ignore_index: int = -100,
                 reduction: str = "mean") -> None:
        super().__init__()
        if gamma < 0:
            raise ValueError(f"gamma must be at least 0, got {gamma}.")
        _check_reduction(reduction)
        self.gamma, self.ignore_index, self.reduction = gamma, ignore_index, reduction
        self.register_buffer("weight", weight)

    def _modulator(self, log_pt: torch.Tensor) -> torch.Tensor:
        """Return ``(1 - p_t) ** gamma``, with a finite gradient at p_t = 1."""
        # expm1 keeps 1 - p_t precise when p_t is close to 1; the guarded power
        # avoids 0 ** (gamma - 1) = inf in the gradient when p_t is exactly 1.
        one_minus_pt = (-torch.expm1(log_pt)).clamp(min=0)
        positive = one_minus_pt > 0
        safe_base = torch.where(positive, one_minus_pt, torch.ones_like(one_minus_pt))
        at_zero = 1.0 if self.gamma == 0 else 0.0
        return torch.where(positive, safe_base ** self.gamma,
                           torch.full_like(one_minus_pt, at_zero))

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_logits(logits)
        batch, num_classes = logits.shape
        check_class_targets(target, num_classes, batch, self.ignore_index)
        log_probs = log_softmax(logits.to(_compute_dtype(logits)))
        keep = target != self.ignore_index
        safe_target = torch.where(keep, target, 0).long()
        log_pt = log_probs.gather(1, safe_target[:, None]).squeeze(1)
        weights = _class_weights(self.weight, num_classes, log_probs)
        target_weight = weights[safe_target]
        focal = -target_weight * self._modulator(log_pt) * log_pt
        losses = torch.where(keep, focal, 0.0)
        denominator = torch.where(keep, target_weight, 0.0).sum()
        return _reduce(losses, self.reduction, denominator).to(logits.dtype)
