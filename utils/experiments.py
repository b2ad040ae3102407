"""The book's recipes: pretrain once, then fine-tune in several ways.

Chapters 4 and 5 call these so that every comparison starts from the same
pretrained weights and the same seeds. The pretrained model is kept as a
checkpoint in the cache, so a second chapter does not pretrain again, and
results are written as small JSON files that say how they were produced.
"""

from __future__ import annotations

import datetime
import json
import platform
from typing import Callable

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
    """Describe the machine, e.g. ``CPU AMD EPYC (x86_64), 2 threads``."""
    if torch.cuda.is_available():
        return f"GPU {torch.cuda.get_device_name(0)}"
    name = platform.machine()
    try:  # Linux names the processor model here; other systems keep the architecture
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            model = next((line.split(":", 1)[1].strip() for line in cpuinfo
                          if line.startswith("model name")), "")
        name = f"{model} ({name})" if model else name
    except OSError:
        pass
    return f"CPU {name}, {torch.get_num_threads()} threads"


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
        try:
            load_checkpoint(model, checkpoint)
            record = json.loads(record_path.read_text())
        except (RuntimeError, ValueError) as error:  # damaged: train it again
            print(f"Pretraining again: {error}")
        else:
            if verbose:
                print(f"Loaded the pretrained model from {checkpoint} "
                      f"(test accuracy {record['test_accuracy']:.2%} on classes 0-4).")
            return model, record
    train, test = pretrain_data(settings, device)
    seed_everything(0)
    model = SmallResNet(len(PRETRAIN_CLASSES), width).to(device)
    config = TrainConfig(epochs=settings.pretrain_epochs,
                         batch_size=settings.batch_size,
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


def strategy_learning_rate(strategy: str) -> float:
    """Return the peak learning rate :func:`finetune` uses for ``strategy``."""
    rates = {"full": FINETUNE_LEARNING_RATE, "linear": PROBE_LEARNING_RATE,
             "scratch": PRETRAIN_LEARNING_RATE}
    if strategy not in rates:
        raise ValueError(f"strategy={strategy!r}; use one of {tuple(rates)}.")
    return rates[strategy]


def finetune(
    loss_fn: nn.Module, pretrained: SmallResNet, train: ImageSet, test: ImageSet,
    settings: Settings, strategy: str = "full", seed: int = 0,
    epochs: int | None = None, teacher: nn.Module | None = None,
    label: str = "finetune", verbose: bool = True, evaluate_each_epoch: bool = True,
) -> dict:
    """Train one model for the fine-tuning task and measure it on ``test``.

    Args:
        evaluate_each_epoch: measure test accuracy and NLL after every epoch
            (``False`` measures only at the end: faster for many short epochs).

    Returns:
        A record with the history, the test metrics (accuracy, nll, ece), the
        test logits, the model and how it was made.
    """
    model = prepare_model(strategy, pretrained, seed)
    config = TrainConfig(epochs=epochs or settings.finetune_epochs,
                         batch_size=settings.batch_size,
                         learning_rate=strategy_learning_rate(strategy), seed=seed)
    history = fit(model, loss_fn, train, test if evaluate_each_epoch else None, config,
                  teacher=teacher, label=label, verbose=verbose)
    logits = predict_logits(model, test).cpu()
    return {
        "label": label, "strategy": strategy, "seed": seed, "model": model,
        "history": history.to_dict(), "logits": logits,
        **summarize(logits, test.labels),
    }


def _json_ready(record: dict) -> dict:
    """Drop what JSON cannot hold (the model, the logits) from a record."""
    return {key: value for key, value in record.items()
            if key not in ("model", "logits")}


def cached(name: str, settings: Settings, compute: Callable[[], list[dict]],
           refresh: bool = False) -> list[dict]:
    """Return the records of experiment ``name`` for this mode, computing them once.

    The records (with their test logits, without the models) are kept in
    ``<cache>/results/<name>-<mode>.pt``, and a JSON summary with the mode,
    hardware and versions beside it. A change of settings recomputes them.

    Args:
        name: a file-friendly name of the experiment, e.g. ``"losses"``.
        settings: the run mode's sizes; part of the cache key.
        compute: runs the experiment and returns a list of records (dicts).
        refresh: recompute even when saved records exist.
    """
    folder = cache_dir() / "results"
    path = folder / f"{name}-{settings.mode}.pt"
    summary = path.with_suffix(".json")
    key = repr(settings)
    if path.is_file() and not refresh:
        try:
            stored = torch.load(path, weights_only=True)
            if stored["settings"] == key:
                return stored["records"]
        except Exception:  # an unreadable result file is recomputed, not trusted
            pass
    records = compute()
    kept = [{key_: value for key_, value in record.items() if key_ != "model"}
            for record in records]
    with atomic_write(path) as temporary:
        torch.save({"settings": key, "records": kept}, temporary)
    with atomic_write(summary) as temporary:
        temporary.write_text(json.dumps(
            {"environment": environment(settings), "settings": key,
             "records": [_json_ready(record) for record in records]}, indent=1))
    return kept


def loss_functions() -> dict[str, nn.Module]:
    """Return the losses chapter 4 compares, by name (all take logits and labels)."""
    from utils import losses

    return {
        "cross-entropy": losses.CrossEntropyLoss(),
        "MSE on probabilities": losses.MSEOnProbabilitiesLoss(),
        "one-vs-rest BCE": losses.OneVsRestBCELoss(),
        "label smoothing 0.1": losses.CrossEntropyLoss(label_smoothing=0.1),
        "focal (gamma 2)": losses.FocalLoss(gamma=2.0),
        "distillation (T 4)": losses.DistillationLoss(temperature=4.0, alpha=0.5),
    }


def compare_losses(settings: Settings, device, verbose: bool = True) -> list[dict]:
    """Fine-tune the pretrained model with every loss, for every seed of the mode.

    Distillation learns from a teacher fine-tuned with cross-entropy for three
    times as many epochs from the same pretrained weights. Results are cached.

    Returns:
        One record per (loss, seed), with metrics, history and test logits.
    """
    def compute() -> list[dict]:
        pretrained, _ = pretrained_model(settings, device, verbose=verbose)
        train, test = finetune_data(settings, device)
        teacher = finetune(CrossEntropyLoss(), pretrained, train, test, settings,
                           epochs=3 * settings.finetune_epochs, label="teacher",
                           verbose=verbose)
        records = [{**teacher, "loss": "teacher (cross-entropy, 3x epochs)"}]
        for seed in settings.seeds:
            for name, loss_fn in loss_functions().items():
                distills = name.startswith("distillation")
                record = finetune(
                    loss_fn, pretrained, train, test, settings, seed=seed,
                    teacher=teacher["model"] if distills else None,
                    label=f"{name} / seed {seed}", verbose=verbose)
                records.append({**record, "loss": name})
        return records

    return cached("losses", settings, compute)


def compare_strategies(settings: Settings, device, verbose: bool = True) -> list[dict]:
    """Linear probing, full fine-tuning and training from scratch, with cross-entropy.

    Returns:
        One record per (strategy, seed), cached like :func:`compare_losses`.
    """
    def compute() -> list[dict]:
        pretrained, _ = pretrained_model(settings, device, verbose=verbose)
        train, test = finetune_data(settings, device)
        return [
            finetune(CrossEntropyLoss(), pretrained, train, test, settings,
                     strategy=strategy, seed=seed, label=f"{strategy} / seed {seed}",
                     verbose=verbose)
            for seed in settings.seeds for strategy in STRATEGIES
        ]

    return cached("strategies", settings, compute)


# Chapter 5: the levers of fine-tuning, each one a measured experiment. --------
# Each lever fine-tunes with cross-entropy from the same pretrained weights and
# seeds as chapter 4, and reuses chapter 4's runs where they are the same run.

LEVER_STRATEGIES = ("full", "scratch")


def backbone_change(model: SmallResNet, pretrained: SmallResNet) -> float:
    """Return how far the backbone's weights moved: ``|w - w0| / |w0|`` (L2, all)."""
    moved = start = 0.0
    before = dict(pretrained.backbone.named_parameters())
    for name, weight in model.backbone.named_parameters():
        origin = before[name].detach().float()
        moved += (weight.detach().float() - origin).pow(2).sum().item()
        start += origin.pow(2).sum().item()
    return (moved / start) ** 0.5


def lp_then_finetune(
    loss_fn: nn.Module, pretrained: SmallResNet, train: ImageSet, test: ImageSet,
    settings: Settings, seed: int = 0, epochs: int | None = None,
    probe_epochs: int | None = None, label: str = "LP-FT", verbose: bool = True,
) -> dict:
    """Linear probing, then fine-tuning of the whole model from the probed head.

    Args:
        epochs: both phases together (default ``settings.finetune_epochs``), so
            the budget equals plain fine-tuning's.
        probe_epochs: epochs of the first phase, backbone frozen (default: half).

    Returns:
        A record like :func:`finetune`'s, plus ``probe_accuracy`` (test accuracy
        after the first phase) and ``backbone_change``; history epochs hold a
        ``phase`` (``probe`` or ``fine-tune``).
    """
    epochs = epochs or settings.finetune_epochs
    probe_epochs = max(1, epochs // 2) if probe_epochs is None else probe_epochs
    if not 0 < probe_epochs < epochs:
        raise ValueError(f"probe_epochs={probe_epochs} must lie between 1 and "
                         f"epochs - 1 = {epochs - 1}; raise epochs or lower it.")
    model = prepare_model("linear", pretrained, seed)
    phases = [("probe", probe_epochs, PROBE_LEARNING_RATE),
              ("fine-tune", epochs - probe_epochs, FINETUNE_LEARNING_RATE)]
    records: list[dict] = []
    for phase, phase_epochs, rate in phases:
        set_backbone_trainable(model, phase == "fine-tune")
        config = TrainConfig(epochs=phase_epochs, batch_size=settings.batch_size,
                             learning_rate=rate, seed=seed)
        history = fit(model, loss_fn, train, test, config, label=f"{label} ({phase})",
                      verbose=verbose)
        records += [{**record, "epoch": len(records) + record["epoch"], "phase": phase}
                    for record in history.epochs]
    logits = predict_logits(model, test).cpu()
    return {
        "label": label, "strategy": "LP-FT", "seed": seed, "model": model,
        "history": {"epochs": records, "device": history.device}, "logits": logits,
        "probe_accuracy": records[probe_epochs - 1]["test_accuracy"],
        "backbone_change": backbone_change(model, pretrained),
        **summarize(logits, test.labels),
    }


def seed_noise(settings: Settings, device, num_seeds: int = 3,
               verbose: bool = False) -> list[dict]:
    """Plain fine-tuning with cross-entropy, repeated for seeds 0 to num_seeds - 1.

    Seeds that chapter 4 already ran (:func:`compare_strategies`) are reused.

    Returns:
        One record per seed; their spread is the noise floor of one run.
    """
    known = [record for record in compare_strategies(settings, device, verbose)
             if record["strategy"] == "full"]
    missing = [seed for seed in range(num_seeds)
               if seed not in {record["seed"] for record in known}]

    def compute() -> list[dict]:
        pretrained, _ = pretrained_model(settings, device, verbose=verbose)
        train, test = finetune_data(settings, device)
        return [finetune(CrossEntropyLoss(), pretrained, train, test, settings,
                         seed=seed, label=f"full / seed {seed}", verbose=verbose)
                for seed in missing]

    extra = cached(f"lever-noise-{num_seeds}", settings, compute) if missing else []
    return sorted(known + extra, key=lambda record: record["seed"])[:num_seeds]


def _strategy_records(settings: Settings, device, verbose: bool) -> list[dict]:
    """Chapter 4's fine-tuned and scratch runs, at the mode's width and data."""
    return [record for record in compare_strategies(settings, device, verbose)
            if record["strategy"] in LEVER_STRATEGIES]


def width_lever(settings: Settings, device, widths: tuple[int, ...],
                verbose: bool = False) -> list[dict]:
    """Pretrain and fine-tune (and train from scratch) at every width.

    Returns:
        One record per (width, strategy, seed) with ``width``, ``parameters``
        (of the fine-tuning model) and ``pretrain_accuracy`` added.
    """
    from utils.models import count_parameters

    def compute() -> list[dict]:
        records = []
        train, test = finetune_data(settings, device)
        for width in widths:
            pretrained, pretrain_record = pretrained_model(settings, device, width,
                                                           verbose=verbose)
            if width == settings.width:
                runs = _strategy_records(settings, device, verbose)
            else:
                runs = [finetune(CrossEntropyLoss(), pretrained, train, test, settings,
                                 strategy=strategy, seed=seed, verbose=verbose,
                                 label=f"width {width} / {strategy} / seed {seed}")
                        for seed in settings.seeds for strategy in LEVER_STRATEGIES]
            parameters = count_parameters(SmallResNet(len(FINETUNE_CLASSES), width))
            records += [{**run, "width": width, "parameters": parameters,
                         "pretrain_accuracy": pretrain_record["test_accuracy"]}
                        for run in runs]
        return records

    name = "lever-width-" + "-".join(str(width) for width in widths)
    return cached(name, settings, compute)


def data_lever(settings: Settings, device, fractions: tuple[float, ...],
               verbose: bool = False) -> list[dict]:
    """Fine-tune and train from scratch on a fraction of the fine-tuning images.

    Every run takes the same number of optimiser steps as a run on all the
    images, so only the number of distinct images differs. The smaller sets
    are subsets of the larger ones (same seed); a fraction of 1 reuses
    chapter 4's runs.

    Returns:
        One record per (fraction, strategy, seed) with ``fraction``,
        ``per_class`` and ``epochs`` added.
    """
    full_images = len(FINETUNE_CLASSES) * settings.finetune_per_class
    steps = settings.finetune_epochs * -(-full_images // settings.batch_size)

    def compute() -> list[dict]:
        pretrained, _ = pretrained_model(settings, device, verbose=verbose)
        records = []
        for fraction in fractions:
            per_class = max(1, round(fraction * settings.finetune_per_class))
            train, test = finetune_data(settings, device, train_per_class=per_class)
            epochs = -(-steps // -(-len(train) // settings.batch_size))
            if per_class == settings.finetune_per_class:
                runs = _strategy_records(settings, device, verbose)
            else:
                runs = [finetune(
                    CrossEntropyLoss(), pretrained, train, test, settings,
                    strategy=strategy, seed=seed, epochs=epochs, verbose=verbose,
                    evaluate_each_epoch=False,
                    label=f"{per_class} per class / {strategy} / seed {seed}")
                    for seed in settings.seeds for strategy in LEVER_STRATEGIES]
            records += [{**run, "fraction": fraction, "per_class": per_class,
                         "epochs": epochs} for run in runs]
        return records

    name = "lever-data-" + "-".join(f"{fraction:g}" for fraction in fractions)
    return cached(name, settings, compute)


def epochs_lever(settings: Settings, device, multiples: tuple[int, ...],
                 seed: int = 0, verbose: bool = False) -> list[dict]:
    """Fine-tune for several epoch budgets, each with its own learning-rate schedule.

    Returns:
        One record per budget with ``multiple`` and ``epochs`` added; every
        epoch of its history holds train loss and accuracy, test accuracy and
        test NLL.
    """
    def compute() -> list[dict]:
        pretrained, _ = pretrained_model(settings, device, verbose=verbose)
        train, test = finetune_data(settings, device)
        records = []
        for multiple in multiples:
            epochs = multiple * settings.finetune_epochs
            record = finetune(
                CrossEntropyLoss(), pretrained, train, test, settings, epochs=epochs,
                seed=seed, label=f"{epochs} epochs / seed {seed}", verbose=verbose)
            records.append({**record, "multiple": multiple, "epochs": epochs})
        return records

    name = "lever-epochs-" + "-".join(str(multiple) for multiple in multiples)
    return cached(f"{name}-seed{seed}", settings, compute)


def lpft_lever(settings: Settings, device, verbose: bool = False) -> list[dict]:
    """Plain fine-tuning against LP-FT, on the same budget, for every seed.

    Returns:
        Records with ``method`` (``fine-tuning`` or ``LP-FT``) and
        ``backbone_change``, one per (method, seed).
    """
    def compute() -> list[dict]:
        pretrained, _ = pretrained_model(settings, device, verbose=verbose)
        train, test = finetune_data(settings, device)
        records = []
        for seed in settings.seeds:
            plain = finetune(CrossEntropyLoss(), pretrained, train, test, settings,
                             seed=seed, label=f"fine-tuning / seed {seed}",
                             verbose=verbose)
            plain["backbone_change"] = backbone_change(plain["model"], pretrained)
            both = lp_then_finetune(CrossEntropyLoss(), pretrained, train, test,
                                    settings, seed=seed, verbose=verbose,
                                    label=f"LP-FT / seed {seed}")
            records += [{**plain, "method": "fine-tuning"}, {**both, "method": "LP-FT"}]
        return records

    return cached("lever-lpft", settings, compute)


def noise_band(seed_spread: float, runs: int = 1) -> float:
    """Return two standard errors of a difference of two means of ``runs`` runs.

    Args:
        seed_spread: the standard deviation of one run over seeds.
        runs: runs (seeds) behind each of the two means.
    """
    return 2 * seed_spread * (2 / runs) ** 0.5


def within_noise(difference: float, seed_spread: float, runs: int = 1) -> bool:
    """Say whether a difference of two means lies within :func:`noise_band`.

    Args:
        difference: the difference of two means of ``runs`` runs each.
        seed_spread: the standard deviation of one run over seeds.
        runs: runs (seeds) behind each of the two means.
    """
    return abs(difference) <= noise_band(seed_spread, runs)


def mean_rows(records: list[dict], group: str, **where) -> list[dict]:
    """Average the records that match ``where`` over seeds, one row per ``group``.

    Example: ``mean_rows(runs, "width", strategy="full")``.

    Returns:
        Rows as :func:`utils.report.mean_over_seeds` makes them.
    """
    from utils.report import mean_over_seeds  # report imports this module

    chosen = [record for record in records
              if all(record[key] == value for key, value in where.items())]
    return mean_over_seeds(chosen, group)
