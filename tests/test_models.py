"""The small ResNet: shapes, new heads, freezing."""

import pytest
import torch

from utils.models import (SmallResNet, count_parameters, replace_head,
                          set_backbone_trainable)


@pytest.mark.parametrize("width", [8, 16])
def test_output_shape_for_cifar_images(width):
    model = SmallResNet(num_classes=5, width=width)
    assert model(torch.randn(4, 3, 32, 32)).shape == (4, 5)
    assert model.num_features == 8 * width


def test_single_image_without_batch_dimension_gets_a_clear_error():
    with pytest.raises(ValueError, match="unsqueeze"):
        SmallResNet()(torch.randn(3, 32, 32))


def test_replace_head_keeps_backbone_and_changes_outputs():
    model = SmallResNet(num_classes=5, width=8)
    backbone_before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    replace_head(model, 3)
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, backbone_before[key])
    assert model(torch.randn(2, 3, 32, 32)).shape == (2, 3)


def test_freezing_leaves_only_the_head_trainable():
    model = set_backbone_trainable(SmallResNet(num_classes=5, width=8), False)
    head_size = sum(p.numel() for p in model.head.parameters())
    assert count_parameters(model, trainable_only=True) == head_size
    set_backbone_trainable(model, True)
    assert count_parameters(model, trainable_only=True) == count_parameters(model)
