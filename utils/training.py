"""Training and evaluation: device choice, seeding, the loop, checkpoints.

:func:`fit` trains any model with any loss module on an :class:`ImageSet` and
returns a per-epoch history. Batches are cut from tensors already on the
device and augmented there, so no data-loader workers are needed.
"""

from __future__ import annotations

import dataclasses
import math
import os
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from utils.data import ImageSet, augment_batch, normalize
from utils.files import atomic_write
from utils.metrics import accuracy, negative_log_likelihood


def pick_device() -> torch.device:
    """Return CUDA when a GPU is present, else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch, so a run can be repeated exactly on CPU."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def autocast(device: torch.device, enabled: bool = True):
    """Return a bfloat16 autocast context for ``device`` (a no-op when disabled)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


@dataclasses.dataclass
class TrainConfig:
    """How to train: epochs, batch size, optimiser settings, augmentation."""

    epochs: int = 5
    batch_size: int = 256
    learning_rate: float = 0.2
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_fraction: float = 0.25  # of all steps, rising linearly to the peak
    augment: bool = True
    mixed_precision: bool = True  # bfloat16 autocast on CPU and CUDA
    seed: int = 0


@dataclasses.dataclass
class History:
    """One record per epoch: training loss, accuracies and seconds."""

    epochs: list[dict] = dataclasses.field(default_factory=list)
    device: str = "cpu"

    def column(self, key: str) -> list[float]:
        """Return one metric over the epochs, e.g. ``history.column("train_loss")``."""
        return [record[key] for record in self.epochs]

    @property
    def final(self) -> dict:
        """The record of the last epoch."""
        return self.epochs[-1]

    def to_dict(self) -> dict:
        return {"epochs": self.epochs, "device": self.device}


def learning_rate_at(step: int, total_steps: int, peak: float, warmup: float) -> float:
    """Return the one-cycle rate: linear rise to ``peak``, then linear fall to 0."""
    rise = max(1, int(total_steps * warmup))
    if step < rise:
        return peak * (step + 1) / rise
    return peak * max(0.0, (total_steps - step) / max(1, total_steps - rise))


@torch.inference_mode()
def predict_logits(
    model: nn.Module, data: ImageSet, batch_size: int = 1000,
    mixed_precision: bool = True,
) -> torch.Tensor:
    """Return the model's float32 logits for every image of ``data`` (N, classes)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    outputs = []
    for start in range(0, len(data), batch_size):
        images = normalize(data.images[start:start + batch_size].to(device))
        images = images.contiguous(memory_format=torch.channels_last)
        with autocast(device, mixed_precision):
            outputs.append(model(images).float())
    model.train(was_training)
    return torch.cat(outputs)


def evaluate(model: nn.Module, data: ImageSet, mixed_precision: bool = True) -> float:
    """Return the accuracy (a fraction in [0, 1]) of ``model`` on ``data``."""
    return accuracy(predict_logits(model, data, mixed_precision=mixed_precision),
                    data.labels)


# The per-epoch line: record keys and the short names printed for them.
_SHOWN = {"train_loss": "loss", "train_accuracy": "train acc",
          "test_accuracy": "test acc", "test_nll": "test nll"}


def _backbone_frozen(model: nn.Module) -> bool:
    backbone = getattr(model, "backbone", None)
    return backbone is not None and not any(
        parameter.requires_grad for parameter in backbone.parameters()
    )


def fit(
    model: nn.Module, loss_fn: nn.Module, train: ImageSet, test: ImageSet | None = None,
    config: TrainConfig | None = None, teacher: nn.Module | None = None,
    label: str = "train", verbose: bool = True,
) -> History:
    """Train ``model`` with ``loss_fn`` on ``train``; evaluate on ``test`` each epoch.

    Args:
        model: the network, already on its device.
        loss_fn: called as ``loss_fn(logits, labels)``, or with the teacher's
            logits as a third argument when ``teacher`` is given.
        train, test: the data; moved to the model's device if needed.
        config: the training settings (defaults: :class:`TrainConfig`).
        teacher: a trained model whose logits the loss also receives.
        label: the name shown on the progress bar.
        verbose: show the progress bar and one line per epoch.

    Returns:
        The :class:`History`; the model is trained in place.
    """
    config = config or TrainConfig()
    device = next(model.parameters()).device
    train, test = train.to(device), test.to(device) if test is not None else None
    model.to(memory_format=torch.channels_last)
    parameters = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(parameters, lr=config.learning_rate,
                                momentum=config.momentum, nesterov=True,
                                weight_decay=config.weight_decay)
    generator = torch.Generator().manual_seed(config.seed)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    total_steps = config.epochs * steps_per_epoch
    history = History(device=str(device))
    # BOOK_PROGRESS=off hides the bar (stored notebook outputs stay readable).
    show_bar = verbose and os.environ.get("BOOK_PROGRESS", "on") != "off"
    progress = tqdm(total=total_steps, desc=label, disable=not show_bar,
                    file=sys.stderr, leave=False, mininterval=2.0)
    step = 0
    for epoch in range(1, config.epochs + 1):
        model.train()
        if _backbone_frozen(model):
            model.backbone.eval()  # a frozen backbone keeps its batch-norm statistics
        started = time.perf_counter()
        order = torch.randperm(len(train), generator=generator).to(device)
        loss_sum = correct = 0.0
        for start in range(0, len(train), config.batch_size):
            index = order[start:start + config.batch_size]
            images, labels = train.images[index], train.labels[index]
            if config.augment:
                images = augment_batch(images, generator)
            images = normalize(images).contiguous(memory_format=torch.channels_last)
            for group in optimizer.param_groups:
                group["lr"] = learning_rate_at(step, total_steps, config.learning_rate,
                                               config.warmup_fraction)
            with autocast(device, config.mixed_precision):
                logits = model(images).float()
                if teacher is not None:
                    with torch.no_grad():
                        teacher.eval()
                        teacher_logits = teacher(images).float()
            # Losses are computed in float32, whatever the precision of the model.
            if teacher is not None:
                loss = loss_fn(logits, labels, teacher_logits)
            else:
                loss = loss_fn(logits, labels)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"{label}: the loss became {loss.item()} at epoch {epoch}, step "
                    f"{step}; lower the learning rate ({config.learning_rate})."
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(index)
            correct += (logits.argmax(1) == labels).sum().item()
            step += 1
            progress.update()
        record = {
            "epoch": epoch,
            "train_loss": loss_sum / len(train),
            "train_accuracy": correct / len(train),
            "seconds": time.perf_counter() - started,
        }
        if test is not None:
            test_logits = predict_logits(model, test,
                                         mixed_precision=config.mixed_precision)
            record["test_accuracy"] = accuracy(test_logits, test.labels)
            record["test_nll"] = negative_log_likelihood(test_logits, test.labels)
        history.epochs.append(record)
        if verbose:
            shown = ", ".join(f"{name} {record[key]:.4f}"
                              for key, name in _SHOWN.items() if key in record)
            progress.write(f"{label} epoch {epoch}/{config.epochs}: {shown} "
                           f"({record['seconds']:.1f} s)", file=sys.stdout)
    progress.close()
    if verbose:
        total = sum(history.column("seconds"))
        if test is not None:
            result = f"test accuracy {history.final['test_accuracy']:.2%}"
        else:
            result = f"train loss {history.final['train_loss']:.4f}"
        print(f"{label}: {result} after {config.epochs} epochs, "
              f"{total:.0f} s on {device.type}")
    return history


def save_checkpoint(model: nn.Module, path: str | Path) -> Path:
    """Write the model's ``state_dict`` atomically to ``path``."""
    path = Path(path)
    with atomic_write(path) as temporary:
        torch.save(model.state_dict(), temporary)
    return path


def load_checkpoint(model: nn.Module, path: str | Path) -> nn.Module:
    """Load a ``state_dict`` written by :func:`save_checkpoint` (weights only)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint at {path}; train the model first.")
    device = next(model.parameters()).device
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # truncated, overwritten, or not a checkpoint at all
        raise RuntimeError(
            f"The checkpoint {path} cannot be read ({type(error).__name__}): it is "
            "damaged or was not written by save_checkpoint. Delete it and train again."
        ) from error
    model.load_state_dict(state)
    return model
