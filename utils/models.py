"""A small ResNet for 32x32 images, and the moves fine-tuning makes on it.

The network follows the ResNet-9 layout that trains quickly on CIFAR-10: four
stages of 3x3 convolutions with batch norm, two residual blocks, a global max
pool, a fixed scale of 1/8 and one linear head. ``width`` sets the channels of
the first stage.
"""

from __future__ import annotations

import torch
from torch import nn


def conv_block(in_channels: int, out_channels: int,
               pool: bool = False) -> nn.Sequential:
    """Return a 3x3 convolution, batch norm and ReLU, optionally max-pooled."""
    layers = [
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    ]
    if pool:
        layers.append(nn.MaxPool2d(2))
    return nn.Sequential(*layers)


class Residual(nn.Module):
    """Two convolution blocks whose output is added to their input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(conv_block(channels, channels),
                                  conv_block(channels, channels))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs + self.body(inputs)


class Scale(nn.Module):
    """Multiply by a fixed factor: small first logits keep early training stable."""

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return inputs * self.factor


class SmallResNet(nn.Module):
    """ResNet-9-style classifier: ``backbone`` gives features, ``head`` logits.

    Args:
        num_classes: outputs of the head.
        width: channels of the first stage; the stages use 1x, 2x, 4x, 8x.
    """

    def __init__(self, num_classes: int = 10, width: int = 16) -> None:
        super().__init__()
        self.width = width
        self.backbone = nn.Sequential(
            conv_block(3, width),
            conv_block(width, 2 * width, pool=True),
            Residual(2 * width),
            conv_block(2 * width, 4 * width, pool=True),
            conv_block(4 * width, 8 * width, pool=True),
            Residual(8 * width),
            nn.AdaptiveMaxPool2d(1),
            nn.Flatten(),
            Scale(0.125),
        )
        self.head = nn.Linear(8 * width, num_classes)

    @property
    def num_features(self) -> int:
        """Length of the feature vector the head reads."""
        return self.head.in_features

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(
                f"Expected a batch of shape (N, 3, H, W), got {tuple(images.shape)}; "
                "add a batch dimension with images.unsqueeze(0) for a single image."
            )
        return self.head(self.backbone(images))


def replace_head(model: SmallResNet, num_classes: int) -> SmallResNet:
    """Give ``model`` a new, randomly initialised head with ``num_classes`` outputs."""
    device = model.head.weight.device
    model.head = nn.Linear(model.num_features, num_classes).to(device)
    return model


def set_backbone_trainable(model: SmallResNet, trainable: bool) -> SmallResNet:
    """Freeze (``False``) or unfreeze (``True``) every backbone parameter."""
    for parameter in model.backbone.parameters():
        parameter.requires_grad_(trainable)
    return model


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Return the number of (trainable) parameters of ``model``."""
    return sum(
        parameter.numel() for parameter in model.parameters()
        if parameter.requires_grad or not trainable_only
    )
