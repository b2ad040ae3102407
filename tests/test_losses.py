"""Each from-scratch loss equals its PyTorch counterpart, in values and gradients."""

import pytest
import torch
import torch.nn.functional as F

from utils import losses


def _pair(fn_ours, fn_torch, logits, *args):
    ours_input = logits.clone().requires_grad_()
    torch_input = logits.clone().requires_grad_()
    ours, reference = fn_ours(ours_input, *args), fn_torch(torch_input, *args)
    ours.sum().backward()
    reference.sum().backward()
    torch.testing.assert_close(ours, reference)
    torch.testing.assert_close(ours_input.grad, torch_input.grad)


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
