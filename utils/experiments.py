"""The book's recipes: pretrain once, then fine-tune in several ways.

Chapters 4 and 5 call these so that every comparison starts from the same
pretrained weights and the same seeds. The pretrained model is kept as a
checkpoint in the cache, so a second chapter does not pretrain again, and
results are written as small JSON files that say how they were produced.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
from pathlib import Path

import torch
from torch import nn

from utils.config import Settings
from utils.data import FINETUNE_CLASSES, PRETRAIN_CLASSES, ImageSet, task_data
from utils.files import atomic_write, cache_dir
from utils.losses import CrossEntropyLoss
from utils.metrics import summarize
from utils.models import SmallResNet, replace_head, set_backbone_trainable
from utils.training import (TrainConfig, fit, load_checkpoint, predict_logits,
                            save_checkpoint, seed_everything)

PRETRAIN_LEARNING_RATE = 0.2
FINETUNE_LEARNING_RATE = 0.05
PROBE_LEARNING_RATE = 0.5
STRATEGIES = ("full", "linear", "scratch")


def hardware() -> str:
    """Describe the machine in a few words, e.g. ``CPU x86_64, 2 threads``."""
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    return f"CPU {platform.machine()}, {torch.get_num_threads()} threads"


def environment(settings: Settings) -> dict:
    """Return what produced a result: mode, hardware, versions and date."""
    return {
        "mode": settings.mode,
        "hardware": hardware(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "date": datetime.date.today().isoformat(),
    }


def pretrain_data(settings: Settings, device) -> tuple[ImageSet, ImageSet]:
    """Return (train, test) of the five pretraining classes at the mode's size."""
    return task_data(PRETRAIN_CLASSES, settings.pretrain_per_class,
                     settings.test_per_class, seed=0, device=device)


def finetune_data(settings: Settings, device, train_per_class: int | None = None,
                  ) -> tuple[ImageSet, ImageSet]:
    """Return (train, test) of the five fine-tuning classes, relabelled 0-4."""
    return task_data(FINETUNE_CLASSES, train_per_class or settings.finetune_per_class,
                     settings.test_per_class, seed=0, device=device)


def pretrained_model(settings: Settings, device, width: int | None = None,
                     verbose: bool = True) -> tuple[SmallResNet, dict]:
    """Return a model pretrained on classes 0-4 and its record, cached on disk.

    The first call trains it (``settings.pretrain_epochs`` epochs, seed 0); later
    calls with the same settings load the checkpoint instead.
    """
    width = width or settings.width
    name = (f"pretrained-{settings.mode}-w{width}-e{settings.pretrain_epochs}"
            f"-n{settings.pretrain_per_class}")
    checkpoint, record_path = cache_dir() / f"{name}.pt", cache_dir() / f"{name}.json"
    model = SmallResNet(len(PRETRAIN_CLASSES), width).to(device)
    if checkpoint.is_file() and record_path.is_file():
        load_checkpoint(model, checkpoint)
        record = json.loads(record_path.read_text())
        if verbose:
            print(f"Loaded the pretrained model from {checkpoint} "
                  f"(test accuracy {record['test_accuracy']:.2%} on classes 0-4).")
        return model, record
    train, test = pretrain_data(settings, device)
    seed_everything(0)
    model = SmallResNet(len(PRETRAIN_CLASSES), width).to(device)
    config = TrainConfig(epochs=settings.pretrain_epochs, batch_size=settings.batch_size,
                         learning_rate=PRETRAIN_LEARNING_RATE)
    history = fit(model, CrossEntropyLoss(), train, test, config, label="pretrain",
                  verbose=verbose)
    record = {"test_accuracy": history.final["test_accuracy"],
              "history": history.to_dict(), **environment(settings)}
    save_checkpoint(model, checkpoint)
    with atomic_write(record_path) as temporary:
        temporary.write_text(json.dumps(record, indent=1))
    return model, record


def prepare_model(strategy: str, pretrained: SmallResNet, seed: int,
                  num_classes: int = len(FINETUNE_CLASSES)) -> SmallResNet:
    """Return a fresh model for ``strategy``: ``full``, ``linear`` or ``scratch``.

    ``full`` and ``linear`` copy the pretrained backbone and add a new head
    (``linear`` freezes the backbone); ``scratch`` starts from random weights.
    The seed fixes the new head, so compared losses start from identical weights.
    """
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy={strategy!r}; use one of {STRATEGIES}.")
    device = pretrained.head.weight.device
    seed_everything(seed)
    model = SmallResNet(num_classes, pretrained.width).to(device)
    if strategy != "scratch":
        model.backbone.load_state_dict(pretrained.backbone.state_dict())
    seed_everything(seed)
    replace_head(model, num_classes)
    set_backbone_trainable(model, strategy != "linear")
    return model


def finetune(
    loss_fn: nn.Module, pretrained: SmallResNet, train: ImageSet, test: ImageSet,
    settings: Settings, strategy: str = "full", seed: int = 0,
    epochs: int | None = None, teacher: nn.Module | None = None,
    label: str = "finetune", verbose: bool = True,
) -> dict:
    """Train one model for the fine-tuning task and measure it on ``test``.

    Returns:
        A record with the history, the test metrics (accuracy, nll, ece), the
        test logits, the model and how it was made.
    """
    model = prepare_model(strategy, pretrained, seed)
    rates = {"full": FINETUNE_LEARNING_RATE, "linear": PROBE_LEARNING_RATE,
             "scratch": PRETRAIN_LEARNING_RATE}
    config = TrainConfig(epochs=epochs or settings.finetune_epochs,
                         batch_size=settings.batch_size,
                         learning_rate=rates[strategy], seed=seed)
    history = fit(model, loss_fn, train, test, config, teacher=teacher, label=label,
                  verbose=verbose)
    logits = predict_logits(model, test).cpu()
    return {
        "label": label, "strategy": strategy, "seed": seed, "model": model,
        "history": history.to_dict(), "logits": logits,
        **summarize(logits, test.labels),
    }


def save_results(name: str, records: list[dict], settings: Settings) -> Path:
    """Write the JSON-friendly part of ``records`` to ``results/<name>-<mode>.json``."""
    keep = [{key: value for key, value in record.items()
             if key not in ("model", "logits")} for record in records]
    folder = Path(os.environ.get("BOOK_RESULTS_DIR", cache_dir() / "results"))
    path = folder / f"{name}-{settings.mode}.json"
    with atomic_write(path) as temporary:
        temporary.write_text(json.dumps(
            {"environment": environment(settings), "records": keep}, indent=1))
    return path
