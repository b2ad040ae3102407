"""Each from-scratch loss equals its PyTorch counterpart, in values and gradients.

Beyond fixed examples, property-based tests (hypothesis) draw random shapes,
logit scales (up to 1e4), weights, ignored labels and reductions, and compare
with the built-ins in float64; ``gradcheck`` checks every gradient numerically.
The inputs that break naive code (huge logits, all labels ignored, p_t = 0 or 1,
half precision) and bad inputs that must raise a clear error have their own tests.
"""

import re
import warnings

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from utils import losses

# Short, reproducible property runs: the whole file stays well under a minute.
QUICK = settings(max_examples=50, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow])
SCALES = (0.0, 1e-3, 1.0, 30.0, 1e4)
EXTREME_LOGITS = torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4],
                               [1e4, 1e4, -1e4], [-1e4, 0.0, 1e4]])
EXTREME_LABELS = torch.tensor([1, 2, 0, 0])


def _pair(fn_ours, fn_torch, logits, *args):
    ours_input = logits.clone().requires_grad_()
    torch_input = logits.clone().requires_grad_()
    ours, reference = fn_ours(ours_input, *args), fn_torch(torch_input, *args)
    ours.sum().backward()
    reference.sum().backward()
    torch.testing.assert_close(ours, reference)
    torch.testing.assert_close(ours_input.grad, torch_input.grad)


def _values_and_grads(fn, logits, *args):
    """Return ``fn(logits, *args)`` and its gradient for a fixed, uneven cotangent."""
    leaf = logits.detach().clone().requires_grad_()
    value = fn(leaf, *args)
    count = value.numel()
    cotangent = torch.linspace(0.5, 1.5, count, dtype=value.dtype) if count > 1 \
        else torch.ones(count, dtype=value.dtype)
    (grad,) = torch.autograd.grad(value, leaf, cotangent.reshape(value.shape))
    return value.detach(), grad


def _assert_same(fn_ours, fn_torch, logits, *args, **tolerance):
    """Values and gradients of two losses agree (NaN where both give NaN)."""
    ours = _values_and_grads(fn_ours, logits, *args)
    reference = _values_and_grads(fn_torch, logits, *args)
    for mine, theirs in zip(ours, reference):
        torch.testing.assert_close(mine, theirs, equal_nan=True, **tolerance)


@st.composite
def logit_batches(draw, max_batch=6, max_classes=6):
    """Float64 logits (N, C) at one of several scales, with valid class labels."""
    batch = draw(st.integers(1, max_batch))
    classes = draw(st.integers(2, max_classes))
    scale = draw(st.sampled_from(SCALES))
    size = batch * classes
    values = draw(st.lists(st.floats(-1, 1), min_size=size, max_size=size))
    logits = torch.tensor(values, dtype=torch.float64).reshape(batch, classes) * scale
    labels = draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch))
    return logits, torch.tensor(labels)


def _positive(draw, size, low=0.1, high=3.0):
    """Draw ``size`` positive float64 values, as a tensor."""
    values = draw(st.lists(st.floats(low, high), min_size=size, max_size=size))
    return torch.tensor(values, dtype=torch.float64)


# Fixed examples ------------------------------------------------------------------

@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1])
def test_cross_entropy_matches_builtin(reduction, smoothing):
    torch.manual_seed(0)
    logits, target = torch.randn(8, 5) * 3, torch.randint(0, 5, (8,))
    _pair(losses.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing),
          torch.nn.CrossEntropyLoss(reduction=reduction, label_smoothing=smoothing),
          logits, target)


def test_cross_entropy_is_finite_for_huge_logits():
    logits = torch.tensor([[1e4, -1e4, 0.0], [-1e4, -1e4, 1e4]])
    target = torch.tensor([1, 2])
    value = losses.CrossEntropyLoss()(logits, target)
    assert torch.isfinite(value)
    torch.testing.assert_close(value, F.cross_entropy(logits, target))


def test_label_out_of_range_is_named():
    with pytest.raises(ValueError, match="target contains 13"):
        losses.CrossEntropyLoss()(torch.randn(2, 10), torch.tensor([1, 13]))


def test_nan_logits_are_refused():
    with pytest.raises(ValueError, match="NaN"):
        losses.CrossEntropyLoss()(torch.tensor([[float("nan"), 0.0]]),
                                  torch.tensor([0]))


def test_focal_loss_with_gamma_zero_is_cross_entropy():
    torch.manual_seed(1)
    logits, target = torch.randn(16, 5), torch.randint(0, 5, (16,))
    _pair(losses.FocalLoss(gamma=0.0), torch.nn.CrossEntropyLoss(), logits, target)


def test_one_vs_rest_bce_matches_builtin_on_one_hot_targets():
    torch.manual_seed(2)
    logits, target = torch.randn(8, 5), torch.randint(0, 5, (8,))
    one_hot = F.one_hot(target, 5).float()
    _pair(losses.OneVsRestBCELoss(), lambda x, t: F.binary_cross_entropy_with_logits(
        x, F.one_hot(t, 5).float()), logits, target)
    assert one_hot.sum() == 8


def test_kl_divergence_matches_builtin_batchmean():
    torch.manual_seed(3)
    log_input = torch.randn(6, 5).log_softmax(1)
    target = torch.randn(6, 5).softmax(1)
    _pair(losses.KLDivLoss(reduction="batchmean"),
          torch.nn.KLDivLoss(reduction="batchmean"), log_input, target)


# Property-based comparisons with the built-ins -----------------------------------

@QUICK
@given(batch=logit_batches(), data=st.data())
def test_cross_entropy_with_class_indices_matches_builtin(batch, data):
    logits, labels = batch
    classes = logits.shape[1]
    ignore_index = data.draw(st.sampled_from([-100, 0, classes - 1]))
    ignored = data.draw(st.lists(st.booleans(), min_size=len(labels),
                                 max_size=len(labels)))
    labels = torch.where(torch.tensor(ignored), ignore_index, labels)
    weight = _positive(data.draw, classes) if data.draw(st.booleans()) else None
    options = dict(weight=weight, ignore_index=ignore_index,
                   reduction=data.draw(st.sampled_from(losses.REDUCTIONS)),
                   label_smoothing=data.draw(st.sampled_from([0.0, 0.1, 0.5, 1.0])))
    _assert_same(losses.CrossEntropyLoss(**options),
                 torch.nn.CrossEntropyLoss(**options), logits, labels)


@QUICK
@given(batch=logit_batches(), data=st.data())
def test_cross_entropy_with_unnormalised_probability_targets(batch, data):
    logits, _ = batch
    target = _positive(data.draw, logits.numel(), 0.0, 5.0).reshape(logits.shape)
    weight = _positive(data.draw, logits.shape[1]) if data.draw(st.booleans()) else None
    reduction = data.draw(st.sampled_from(losses.REDUCTIONS))
    options = dict(weight=weight, reduction=reduction,
                   label_smoothing=data.draw(st.sampled_from([0.0, 0.2])))
    _assert_same(losses.CrossEntropyLoss(**options),
                 torch.nn.CrossEntropyLoss(**options), logits, target)
    # The gradient with respect to the target matches too (used by distillation).
    ours_target = target.clone().requires_grad_()
    torch_target = target.clone().requires_grad_()
    losses.cross_entropy(logits, ours_target, **options).sum().backward()
    F.cross_entropy(logits, torch_target, **options).sum().backward()
    torch.testing.assert_close(ours_target.grad, torch_target.grad)


@QUICK
@given(batch=logit_batches(), data=st.data())
def test_bce_with_logits_and_broadcast_weights_matches_builtin(batch, data):
    logits, _ = batch
    rows, classes = logits.shape
    target = _positive(data.draw, logits.numel(), 0.0, 1.0).reshape(logits.shape)
    pos_shape = data.draw(st.sampled_from([None, (classes,), (1,), (rows, classes)]))
    weight_shape = data.draw(st.sampled_from([None, (classes,), (rows, 1)]))
    draw_weights = lambda shape: None if shape is None else _positive(  # noqa: E731
        data.draw, torch.Size(shape).numel(), 0.1, 5.0).reshape(shape)
    options = dict(weight=draw_weights(weight_shape),
                   pos_weight=draw_weights(pos_shape),
                   reduction=data.draw(st.sampled_from(losses.REDUCTIONS)))
    _assert_same(losses.BCEWithLogitsLoss(**options),
                 torch.nn.BCEWithLogitsLoss(**options), logits, target)


@QUICK
@given(batch=logit_batches(), data=st.data())
def test_one_vs_rest_and_mse_match_builtins(batch, data):
    logits, labels = batch
    classes = logits.shape[1]
    reduction = data.draw(st.sampled_from(losses.REDUCTIONS))
    pos_weight = _positive(data.draw, classes) if data.draw(st.booleans()) else None
    one_hot = lambda t: F.one_hot(t, classes).to(torch.float64)  # noqa: E731
    _assert_same(losses.OneVsRestBCELoss(reduction=reduction, pos_weight=pos_weight),
                 lambda x, t: F.binary_cross_entropy_with_logits(
                     x, one_hot(t), reduction=reduction, pos_weight=pos_weight),
                 logits, labels)
    _assert_same(losses.MSEOnProbabilitiesLoss(reduction=reduction),
                 lambda x, t: F.mse_loss(x.softmax(1), one_hot(t), reduction=reduction),
                 logits, labels)


def _teacher_like(logits, scale):
    """Deterministic teacher logits of the same shape, at a given scale."""
    count = logits.numel()
    return torch.arange(count, dtype=torch.float64).cos().reshape(logits.shape) * scale


@QUICK
@given(batch=logit_batches(), data=st.data())
def test_kl_divergence_matches_builtin(batch, data):
    logits, _ = batch
    # At scale 1e4 some target probabilities are exactly 0 (0 log 0 counts as 0).
    teacher_logits = _teacher_like(logits, data.draw(st.sampled_from(SCALES)))
    log_target = data.draw(st.booleans())
    target = teacher_logits.log_softmax(1)
    target = target if log_target else target.exp()
    reduction = data.draw(st.sampled_from(losses.REDUCTIONS + ("batchmean",)))
    with warnings.catch_warnings():  # the built-in warns that 'mean' is not the KL
        warnings.simplefilter("ignore", UserWarning)
        _assert_same(losses.KLDivLoss(reduction, log_target),
                     torch.nn.KLDivLoss(reduction=reduction, log_target=log_target),
                     logits.log_softmax(1), target)


def _focal_reference(logits, target, gamma, weight=None, ignore_index=-100,
                     reduction="mean"):
    """Focal loss straight from its formula, in float64, with PyTorch built-ins."""
    logits = logits.to(torch.float64)
    keep = target != ignore_index
    safe = torch.where(keep, target, 0)
    log_pt = F.log_softmax(logits, dim=1).gather(1, safe[:, None]).squeeze(1)
    class_weight = torch.ones(logits.shape[1], dtype=torch.float64) if weight is None \
        else weight.to(torch.float64)
    row_weight = torch.where(keep, class_weight[safe], 0.0)
    rows = -row_weight * (1 - log_pt.exp()) ** gamma * log_pt
    if reduction == "none":
        return rows
    return rows.sum() if reduction == "sum" else rows.sum() / row_weight.sum()


@QUICK
@given(batch=logit_batches(), data=st.data())
def test_focal_loss_matches_its_formula(batch, data):
    logits, labels = batch
    gamma = data.draw(st.sampled_from([0.5, 1.0, 2.0, 5.0]))
    reduction = data.draw(st.sampled_from(losses.REDUCTIONS))
    focal = losses.FocalLoss(gamma, reduction=reduction)
    ours = _values_and_grads(focal, logits, labels)
    reference = _values_and_grads(
        lambda x, t: _focal_reference(x, t, gamma, reduction=reduction), logits, labels)
    torch.testing.assert_close(ours[0], reference[0])
    assert torch.isfinite(ours[1]).all()
    # At p_t == 1 the formula's own gradient is 0 * inf for gamma < 1; compare
    # only the rows where the reference is finite.
    finite_rows = torch.isfinite(reference[1]).all(dim=1)
    torch.testing.assert_close(ours[1][finite_rows], reference[1][finite_rows])


@QUICK
@given(batch=logit_batches(), data=st.data())
def test_focal_loss_with_gamma_zero_equals_cross_entropy(batch, data):
    logits, labels = batch
    classes = logits.shape[1]
    ignored = torch.tensor(data.draw(st.lists(st.booleans(), min_size=len(labels),
                                              max_size=len(labels))))
    labels = torch.where(ignored, 7, labels)
    weight = _positive(data.draw, classes) if data.draw(st.booleans()) else None
    reduction = data.draw(st.sampled_from(losses.REDUCTIONS))
    _assert_same(losses.FocalLoss(0.0, weight, ignore_index=7, reduction=reduction),
                 torch.nn.CrossEntropyLoss(weight, ignore_index=7, reduction=reduction),
                 logits, labels)


@QUICK
@given(batch=logit_batches(), data=st.data())
def test_distillation_equals_its_formula_from_builtins(batch, data):
    logits, labels = batch
    teacher_logits = _teacher_like(logits, data.draw(st.sampled_from(SCALES)))
    temperature = data.draw(st.sampled_from([0.5, 1.0, 2.0, 4.0, 10.0]))
    alpha = data.draw(st.sampled_from([0.0, 0.3, 1.0]))

    def formula(student, target):
        soft = F.kl_div(F.log_softmax(student / temperature, dim=1),
                        F.log_softmax(teacher_logits / temperature, dim=1),
                        reduction="batchmean", log_target=True)
        hard = F.cross_entropy(student, target)
        return alpha * temperature ** 2 * soft + (1 - alpha) * hard

    distill = losses.DistillationLoss(temperature, alpha)
    _assert_same(lambda x, t: distill(x, t, teacher_logits), formula, logits, labels)


# Gradients checked numerically, in float64 ---------------------------------------

def _gradcheck_cases():
    generator = torch.Generator().manual_seed(4)
    draw = lambda: torch.randn(5, 4, dtype=torch.float64, generator=generator)  # noqa
    weight = draw()[0].abs() + 0.5
    labels = torch.tensor([0, 3, -100, 1, 2])
    soft, teacher, log_target = draw().exp(), draw(), draw().log_softmax(1)
    return {
        "cross-entropy": (losses.CrossEntropyLoss(), labels.clamp(min=0)),
        "cross-entropy, weight, ignore, smoothing": (losses.CrossEntropyLoss(
            weight, ignore_index=-100, label_smoothing=0.2), labels),
        "cross-entropy, soft targets": (losses.CrossEntropyLoss(weight), soft),
        "MSE on probabilities": (losses.MSEOnProbabilitiesLoss(), labels.clamp(min=0)),
        "BCE with pos_weight": (losses.BCEWithLogitsLoss(pos_weight=weight), soft),
        "one-vs-rest BCE": (losses.OneVsRestBCELoss(), labels.clamp(min=0)),
        "KL batchmean": (lambda x, t: losses.KLDivLoss("batchmean")(
            x.log_softmax(1), t), soft.softmax(1)),
        "KL log_target": (lambda x, t: losses.KLDivLoss("sum", log_target=True)(
            x.log_softmax(1), t), log_target),
        "distillation": (lambda x, t: losses.DistillationLoss(3.0, 0.7)(
            x, t, teacher), labels.clamp(min=0)),
        "focal gamma 2": (losses.FocalLoss(2.0, weight), labels),
        "focal gamma 0.5": (losses.FocalLoss(0.5, reduction="sum"), labels),
    }


GRADCHECK_CASES = _gradcheck_cases()


@pytest.mark.parametrize("name", list(GRADCHECK_CASES))
def test_gradcheck_in_float64(name):
    loss_fn, target = GRADCHECK_CASES[name]
    generator = torch.Generator().manual_seed(10)
    logits = torch.randn(5, 4, dtype=torch.float64, generator=generator) * 2
    logits.requires_grad_()
    assert torch.autograd.gradcheck(lambda x: loss_fn(x, target), (logits,))


# Inputs that break naive code ----------------------------------------------------

def test_naive_log_of_softmax_fails_where_ours_does_not():
    naive = torch.log(torch.softmax(EXTREME_LOGITS, dim=1))
    naive_picked = -naive.gather(1, EXTREME_LABELS[:, None])
    assert torch.isinf(naive_picked).any()  # log(0) for the losing classes
    exps = torch.exp(EXTREME_LOGITS)
    from_exp = exps / exps.sum(1, keepdim=True)
    assert torch.isnan(from_exp).any()  # inf / inf when exp is written out
    assert torch.isfinite(losses.log_softmax(EXTREME_LOGITS)).all()
    torch.testing.assert_close(losses.log_softmax(EXTREME_LOGITS),
                               F.log_softmax(EXTREME_LOGITS, dim=1))


EXTREME_CASES = {
    "cross-entropy, smoothing 0.1": (
        losses.CrossEntropyLoss(label_smoothing=0.1),
        torch.nn.CrossEntropyLoss(label_smoothing=0.1), EXTREME_LABELS),
    "cross-entropy, soft targets": (
        losses.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(),
        torch.tensor([[0.2, 0.3, 0.5]]).expand(4, 3)),
    "MSE on probabilities": (
        losses.MSEOnProbabilitiesLoss(),
        lambda x, t: F.mse_loss(x.softmax(1), F.one_hot(t, 3).float()), EXTREME_LABELS),
    "BCE with logits": (
        losses.BCEWithLogitsLoss(pos_weight=torch.tensor([1.0, 2.0, 3.0])),
        torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor([1.0, 2.0, 3.0])),
        torch.tensor([[1.0, 0.0, 0.5]]).expand(4, 3)),
    "KL, log_target": (
        lambda x, t: losses.KLDivLoss("batchmean", True)(losses.log_softmax(x), t),
        lambda x, t: F.kl_div(x.log_softmax(1), t, reduction="batchmean",
                              log_target=True),
        torch.tensor([[3.0, -2.0, 0.0]]).log_softmax(1).expand(4, 3)),
    "focal, gamma 0 is cross-entropy": (
        losses.FocalLoss(0.0), torch.nn.CrossEntropyLoss(), EXTREME_LABELS),
    "distillation": (
        lambda x, t: losses.DistillationLoss(2.0)(x, t, EXTREME_LOGITS.flip(1)),
        lambda x, t: 0.5 * 4 * F.kl_div(
            (x / 2).log_softmax(1), (EXTREME_LOGITS.flip(1) / 2).log_softmax(1),
            reduction="batchmean", log_target=True) + 0.5 * F.cross_entropy(x, t),
        EXTREME_LABELS),
}


@pytest.mark.parametrize("name", list(EXTREME_CASES))
def test_huge_logits_give_finite_values_equal_to_builtin(name):
    ours, builtin, target = EXTREME_CASES[name]
    value, grad = _values_and_grads(ours, EXTREME_LOGITS, target)
    assert torch.isfinite(value).all() and torch.isfinite(grad).all()
    _assert_same(ours, builtin, EXTREME_LOGITS, target)


def test_bce_is_stable_and_exact_at_huge_and_zero_logits():
    logits = torch.tensor([[1e4, -1e4, 0.0, 0.0]])
    target = torch.tensor([[0.0, 1.0, 1.0, 0.0]])
    _assert_same(losses.BCEWithLogitsLoss(reduction="none"),
                 torch.nn.BCEWithLogitsLoss(reduction="none"), logits, target)
    # The slope at x = 0 is sigmoid(0) - t = -0.5 / 0.5; a clamp-based softplus
    # would give 0 there.
    summed = losses.BCEWithLogitsLoss(reduction="sum")
    _, grad = _values_and_grads(summed, logits, target)
    torch.testing.assert_close(grad[0, 2:], torch.tensor([-0.5, 0.5]))


def test_pos_weight_broadcasts_over_the_batch_per_class():
    logits = torch.tensor([[0.3, -1.2, 2.0], [-0.7, 0.1, -2.5]])
    target = torch.tensor([[1.0, 0.0, 1.0], [1.0, 1.0, 0.0]])
    pos_weight = torch.tensor([2.0, 3.0, 0.5])
    value = losses.BCEWithLogitsLoss(reduction="none", pos_weight=pos_weight)(logits,
                                                                              target)
    by_hand = -(pos_weight * target * F.logsigmoid(logits)
                + (1 - target) * F.logsigmoid(-logits))
    torch.testing.assert_close(value, by_hand)


def test_label_smoothing_with_weight_and_ignore_index():
    torch.manual_seed(5)
    logits, labels = torch.randn(6, 4) * 5, torch.tensor([0, 3, -1, 2, -1, 1])
    options = dict(weight=torch.tensor([0.5, 2.0, 1.0, 3.0]), ignore_index=-1,
                   label_smoothing=0.3)
    for reduction in losses.REDUCTIONS:
        _assert_same(losses.CrossEntropyLoss(**options, reduction=reduction),
                     torch.nn.CrossEntropyLoss(**options, reduction=reduction),
                     logits, labels)


@pytest.mark.parametrize("loss_class", [losses.CrossEntropyLoss, losses.FocalLoss])
@pytest.mark.parametrize("reduction", losses.REDUCTIONS)
def test_batch_with_every_target_ignored(loss_class, reduction):
    """Mean over zero targets is 0 / 0 = NaN, as the built-in's; gradients are 0."""
    logits, labels = torch.randn(3, 4), torch.full((3,), -100)
    weight = torch.tensor([1.0, 2.0, 3.0, 4.0])
    extra = {"label_smoothing": 0.1} if loss_class is losses.CrossEntropyLoss \
        else {"gamma": 0.0}
    ours = loss_class(weight=weight, reduction=reduction, **extra)
    builtin = torch.nn.CrossEntropyLoss(weight, reduction=reduction,
                                        label_smoothing=extra.get("label_smoothing", 0))
    _assert_same(ours, builtin, logits, labels)
    value, grad = _values_and_grads(ours, logits, labels)
    assert value.isnan().all() if reduction == "mean" else (value == 0).all()
    assert (grad == 0).all()


def test_probability_targets_need_not_be_normalised():
    torch.manual_seed(6)
    logits, target = torch.randn(5, 3), torch.rand(5, 3) * 4
    _assert_same(losses.CrossEntropyLoss(), torch.nn.CrossEntropyLoss(), logits, target)
    # Cross-entropy is linear in the target: doubling it doubles the loss.
    torch.testing.assert_close(losses.cross_entropy(logits, 2 * target),
                               2 * losses.cross_entropy(logits, target))


def test_kl_batchmean_is_mean_times_classes_and_log_target_agrees():
    torch.manual_seed(7)
    log_input = torch.randn(4, 6).log_softmax(1)
    target = torch.randn(4, 6).softmax(1)
    batchmean = losses.KLDivLoss("batchmean")(log_input, target)
    mean = losses.KLDivLoss("mean")(log_input, target)
    torch.testing.assert_close(batchmean, mean * 6)
    torch.testing.assert_close(batchmean, losses.KLDivLoss(
        "batchmean", log_target=True)(log_input, target.log()))
    # batchmean is the KL divergence of each example, averaged over the batch.
    per_example = (target * (target.log() - log_input)).sum(1).mean()
    torch.testing.assert_close(batchmean, per_example)


def test_temperature_squared_keeps_distillation_gradients_comparable():
    torch.manual_seed(8)
    student, teacher = torch.randn(64, 10) * 3, torch.randn(64, 10) * 3
    labels = torch.randint(0, 10, (64,))
    sizes = {}
    for temperature in (1.0, 2.0, 4.0, 8.0, 16.0):
        loss_fn = losses.DistillationLoss(temperature, alpha=1.0)
        _, grad = _values_and_grads(lambda x, t, fn=loss_fn: fn(x, t, teacher),
                                    student, labels)
        sizes[temperature] = grad.norm().item()
    scaled = torch.tensor(list(sizes.values()))
    assert scaled.max() / scaled.min() < 2  # with T**2: the same size
    unscaled = torch.tensor([size / t ** 2 for t, size in sizes.items()])
    assert unscaled.max() / unscaled.min() > 100  # without it: shrinks as 1 / T**2


def test_focal_loss_at_p_zero_and_one_is_finite_and_matches_formula():
    logits = torch.tensor([[50.0, -50.0, 0.0], [1e4, -1e4, 0.0],
                           [1e4, -1e4, 0.0], [-1e4, 1e4, 0.0]], dtype=torch.float64)
    labels = torch.tensor([0, 0, 1, 0])  # p_t = 1, 1, 0, 0
    for gamma in (0.0, 0.5, 1.0, 2.0, 5.0):
        for dtype in (torch.float32, torch.float64):
            value, grad = _values_and_grads(
                losses.FocalLoss(gamma, reduction="none"), logits.to(dtype), labels)
            assert torch.isfinite(value).all() and torch.isfinite(grad).all()
            reference = _focal_reference(logits, labels, gamma, reduction="none")
            torch.testing.assert_close(value.double(), reference,
                                       rtol=1e-6, atol=1e-6)
            # p_t = 1: no loss and no push; p_t = 0: the cross-entropy slope.
            assert (value[:2] == 0).all()
            torch.testing.assert_close(grad[:2], torch.zeros_like(grad[:2]))
            _, ce_grad = _values_and_grads(
                lambda x, t: F.cross_entropy(x, t, reduction="none"),
                logits.to(dtype), labels)
            torch.testing.assert_close(grad[2:], ce_grad[2:])


HALF_CASES = {
    "cross-entropy": (losses.CrossEntropyLoss(label_smoothing=0.1), "labels"),
    "cross-entropy, soft": (losses.CrossEntropyLoss(), "probabilities"),
    "MSE on probabilities": (losses.MSEOnProbabilitiesLoss(), "labels"),
    "BCE with logits": (losses.BCEWithLogitsLoss(), "probabilities"),
    "one-vs-rest BCE": (losses.OneVsRestBCELoss(), "labels"),
    "KL": (lambda x, t: losses.KLDivLoss("batchmean")(losses.log_softmax(x), t),
           "probabilities"),
    "distillation": (lambda x, t: losses.DistillationLoss()(x, t, x.detach().flip(1)),
                     "labels"),
    "focal": (losses.FocalLoss(2.0), "labels"),
}


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=str)
@pytest.mark.parametrize("name", list(HALF_CASES))
def test_half_precision_inputs_are_computed_in_float32(name, dtype):
    torch.manual_seed(9)
    loss_fn, kind = HALF_CASES[name]
    logits = (torch.randn(16, 5) * 4).to(dtype)
    target = torch.randint(0, 5, (16,)) if kind == "labels" else \
        torch.rand(16, 5).softmax(1)
    value, grad = _values_and_grads(loss_fn, logits, target)
    assert value.dtype == dtype and grad.dtype == dtype
    # The same (rounded) logits in float32 give the same result, to half precision.
    value_32, grad_32 = _values_and_grads(loss_fn, logits.float(), target)
    tolerance = dict(rtol=2e-2, atol=2e-3) if dtype == torch.bfloat16 \
        else dict(rtol=2e-3, atol=2e-4)
    torch.testing.assert_close(value.float(), value_32, **tolerance)
    torch.testing.assert_close(grad.float(), grad_32, **tolerance)


# Bad inputs: a clear error that names the argument -------------------------------

def _logits(*shape):
    return torch.zeros(*shape)


NAN_ROW = torch.tensor([[float("nan"), 0.0, 1.0]])
BAD_INPUTS = {
    "logits of shape (4,)": (
        lambda: losses.CrossEntropyLoss()(_logits(4), torch.tensor([0])),
        ValueError, r"input must have shape \(batch, classes\), got \(4,\)"),
    "logits of shape (2, 3, 4)": (
        lambda: losses.FocalLoss()(_logits(2, 3, 4), torch.tensor([0, 1])),
        ValueError, r"input must have shape \(batch, classes\)"),
    "integer logits": (
        lambda: losses.CrossEntropyLoss()(torch.tensor([[1, 2]]), torch.tensor([0])),
        TypeError, "input must be a floating point tensor"),
    "integer logits (BCE)": (
        lambda: losses.BCEWithLogitsLoss()(torch.tensor([[1, 2]]), torch.ones(1, 2)),
        TypeError, "input must be a floating point tensor"),
    "NaN in logits": (
        lambda: losses.CrossEntropyLoss()(NAN_ROW, torch.tensor([0])),
        ValueError, "input contains NaN"),
    "+inf in logits": (
        lambda: losses.MSEOnProbabilitiesLoss()(torch.tensor([[float("inf"), 0.0]]),
                                                torch.tensor([0])),
        ValueError, r"input has a row whose largest logit is \+inf"),
    "NaN in teacher_logits": (
        lambda: losses.DistillationLoss()(_logits(1, 3), torch.tensor([0]), NAN_ROW),
        ValueError, "teacher_logits contains NaN"),
    "teacher_logits of another shape": (
        lambda: losses.DistillationLoss()(_logits(2, 3), torch.tensor([0, 1]),
                                          _logits(2, 4)),
        ValueError, "teacher_logits must have the input's shape"),
    "label 13 with 10 classes": (
        lambda: losses.CrossEntropyLoss()(_logits(2, 10), torch.tensor([1, 13])),
        ValueError, r"target contains 13, outside \[0, 10\)"),
    "label -1 (ignore_index is -100)": (
        lambda: losses.FocalLoss()(_logits(2, 10), torch.tensor([1, -1])),
        ValueError, r"target contains -1, outside \[0, 10\) and not ignore_index"),
    "label -100 where nothing may be ignored": (
        lambda: losses.OneVsRestBCELoss()(_logits(2, 5), torch.tensor([1, -100])),
        ValueError, r"target contains -100, outside \[0, 5\);"),
    "labels of shape (2, 1)": (
        lambda: losses.CrossEntropyLoss()(_logits(2, 3), torch.tensor([[0], [1]])),
        ValueError, r"target must have shape \(2,\)"),
    "3 labels for 2 rows": (
        lambda: losses.FocalLoss()(_logits(2, 3), torch.tensor([0, 1, 2])),
        ValueError, r"target must have shape \(2,\)"),
    "float labels of a wrong shape": (
        lambda: losses.CrossEntropyLoss()(_logits(2, 3), torch.tensor([0.0, 1.0])),
        ValueError, r"probability target must have the input's shape \(2, 3\)"),
    "NaN in probability targets": (
        lambda: losses.CrossEntropyLoss()(_logits(1, 3), NAN_ROW),
        ValueError, "target contains NaN"),
    "class weight of shape (2,) for 3 classes": (
        lambda: losses.CrossEntropyLoss(torch.ones(2))(_logits(2, 3),
                                                       torch.tensor([0, 1])),
        ValueError, r"weight must have shape \(3,\)"),
    "BCE target of another shape": (
        lambda: losses.BCEWithLogitsLoss()(_logits(2, 3), torch.ones(2)),
        ValueError, r"target must have the input's shape \(2, 3\)"),
    "KL target of another shape": (
        lambda: losses.KLDivLoss()(_logits(2, 3), torch.ones(3, 2)),
        ValueError, r"target must have the input's shape \(2, 3\)"),
    "KL integer input": (
        lambda: losses.KLDivLoss()(torch.zeros(2, 3, dtype=torch.long),
                                   torch.ones(2, 3)),
        TypeError, "input must be floating point log-probabilities"),
    "reduction 'avg' (cross-entropy)": (
        lambda: losses.CrossEntropyLoss(reduction="avg"),
        ValueError, "reduction='avg' is not known"),
    "reduction 'avg' (function)": (
        lambda: losses.cross_entropy(_logits(1, 2), torch.tensor([0]), reduction="avg"),
        ValueError, "reduction='avg' is not known"),
    "reduction 'batchmean' (BCE)": (
        lambda: losses.BCEWithLogitsLoss(reduction="batchmean"),
        ValueError, "reduction='batchmean' is not known"),
    "reduction 'average' (KL)": (
        lambda: losses.KLDivLoss(reduction="average"),
        ValueError, "reduction='average' is not known"),
    "label_smoothing 1.5": (
        lambda: losses.CrossEntropyLoss(label_smoothing=1.5),
        ValueError, r"label_smoothing must lie in \[0, 1\]"),
    "temperature 0": (
        lambda: losses.DistillationLoss(temperature=0),
        ValueError, "temperature must be positive"),
    "alpha 2": (lambda: losses.DistillationLoss(alpha=2.0),
                ValueError, r"alpha must lie in \[0, 1\]"),
    "gamma -1": (lambda: losses.FocalLoss(gamma=-1.0),
                 ValueError, "gamma must be at least 0"),
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_gives_a_clear_error(name):
    call, error, message = BAD_INPUTS[name]
    with pytest.raises(error, match=message):
        call()


def test_every_bad_input_error_names_what_to_do():
    """Each message names the argument and is a full sentence, not a bare code."""
    for name, (call, error, _) in BAD_INPUTS.items():
        with pytest.raises(error) as caught:
            call()
        text = str(caught.value)
        assert re.search(r"\b(input|target|teacher_logits|weight|reduction|"
                         r"label_smoothing|temperature|alpha|gamma)\b", text), name
        assert text.endswith("."), name
