"""Run one candidate full-mode recipe of chapter 4 end to end; time and test it.

    .venv/bin/python bench/tune_full.py --width 16 --pretrain-epochs 10 \\
        --finetune-epochs 8 --label-smoothing 0.1

Pretrains a ``SmallResNet`` on classes 0-4 (all 25,000 training images by
default), fine-tunes all of it with cross-entropy on classes 5-9 (all 25,000),
and tests on the 5,000 test images of classes 5-9, with and without averaging
over horizontal flips. Prints the time and accuracy, and appends a record
(settings, seconds, CPU seconds, load average, versions) to
``bench/results/full_recipe.json``. The target: 95% within 10 minutes on two
CPU cores. Other programs on the machine inflate the wall-clock time; the load
average is recorded so that runs can be compared honestly.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import resource
import sys
import threading
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.bench_pipeline import machine  # noqa: E402
from utils.data import (FINETUNE_CLASSES, PRETRAIN_CLASSES, ImageSet,  # noqa: E402
                        task_data)
from utils.files import atomic_write  # noqa: E402
from utils.losses import CrossEntropyLoss  # noqa: E402
from utils.models import SmallResNet, replace_head  # noqa: E402
from utils.training import (TrainConfig, fit, predict_logits,  # noqa: E402
                            seed_everything)

RESULTS = ROOT / "bench" / "results" / "full_recipe.json"


class LoadSampler:
    """Sample the one-minute load average every few seconds in the background."""

    def __init__(self, every: float = 5.0) -> None:
        self.samples: list[float] = [os.getloadavg()[0]]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)

    def _run(self, every: float) -> None:
        while not self._stop.wait(every):
            self.samples.append(os.getloadavg()[0])

    def __enter__(self) -> "LoadSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        return {"mean": round(sum(self.samples) / len(self.samples), 2),
                "max": round(max(self.samples), 2), "samples": len(self.samples)}


def cpu_seconds() -> float:
    """User plus system CPU seconds of this process so far (all its threads)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def accuracies(model: torch.nn.Module, test: ImageSet) -> dict:
    """Test accuracy plain, and averaged over the image and its mirror image."""
    logits = predict_logits(model, test)
    mirrored = ImageSet(test.images.flip(3), test.labels, test.classes)
    averaged = (logits.softmax(1) + predict_logits(model, mirrored).softmax(1)) / 2
    labels = test.labels.cpu()
    return {"plain": (logits.argmax(1).cpu() == labels).float().mean().item(),
            "flip_average": (averaged.argmax(1).cpu() == labels).float().mean().item()}


def phase(model, loss_fn, train, config, label) -> dict:
    """Train one phase; return its wall and CPU seconds."""
    started, cpu_started = time.perf_counter(), cpu_seconds()
    fit(model, loss_fn, train, None, config, label=label)
    return {"seconds": time.perf_counter() - started,
            "cpu_seconds": cpu_seconds() - cpu_started,
            "images": config.epochs * len(train)}


def run(options) -> dict:
    """Pretrain, fine-tune and test one recipe; return its record."""
    device = torch.device("cpu")
    started, cpu_started = time.perf_counter(), cpu_seconds()
    seed_everything(options.seed)
    model = SmallResNet(len(PRETRAIN_CLASSES), options.width)
    phases, pretrain_accuracy = {}, None
    if options.pretrain_epochs > 0:
        train, test = task_data(PRETRAIN_CLASSES, options.pretrain_per_class, 1000,
                                device=device)
        config = TrainConfig(epochs=options.pretrain_epochs,
                             batch_size=options.batch_size,
                             learning_rate=options.pretrain_lr,
                             weight_decay=options.weight_decay,
                             warmup_fraction=options.warmup, seed=options.seed)
        phases["pretrain"] = phase(
            model, CrossEntropyLoss(label_smoothing=options.label_smoothing), train,
            config, "pretrain")
        pretrain_accuracy = accuracies(model, test)["plain"]
    seed_everything(options.seed)
    replace_head(model, len(FINETUNE_CLASSES))
    train, test = task_data(FINETUNE_CLASSES, options.finetune_per_class, 1000,
                            device=device)
    config = TrainConfig(epochs=options.finetune_epochs, batch_size=options.batch_size,
                         learning_rate=options.finetune_lr,
                         weight_decay=options.weight_decay,
                         warmup_fraction=options.finetune_warmup, seed=options.seed)
    phases["finetune"] = phase(
        model, CrossEntropyLoss(label_smoothing=options.finetune_smoothing), train,
        config, "finetune")
    result = accuracies(model, test)
    seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    images = sum(item["images"] for item in phases.values())
    if pretrain_accuracy is not None:
        pretrain_accuracy = round(pretrain_accuracy, 4)
    return {"pretrain_test_accuracy": pretrain_accuracy,
            "test_accuracy": round(result["plain"], 4),
            "test_accuracy_flip_average": round(result["flip_average"], 4),
            "seconds": round(seconds, 1), "cpu_seconds": round(cpu, 1),
            "images_trained": images,
            "train_images_per_second": round(
                images / sum(item["seconds"] for item in phases.values()), 1),
            "phases": {name: {key: round(value, 1) for key, value in item.items()}
                       for name, item in phases.items()}}


def append_record(record: dict, path: Path) -> None:
    """Add ``record`` to the JSON list in ``path`` (created when absent)."""
    records = json.loads(path.read_text()) if path.is_file() else []
    records.append(record)
    with atomic_write(path) as temporary:
        temporary.write_text(json.dumps(records, indent=1) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--pretrain-epochs", type=int, default=10,
                        help="0 trains from scratch on classes 5-9")
    parser.add_argument("--pretrain-per-class", type=int, default=5000)
    parser.add_argument("--finetune-per-class", type=int, default=5000)
    parser.add_argument("--finetune-epochs", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--pretrain-lr", type=float, default=0.2)
    parser.add_argument("--finetune-lr", type=float, default=0.05)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--warmup", type=float, default=0.25,
                        help="fraction of pretraining steps with a rising rate")
    parser.add_argument("--finetune-warmup", type=float, default=0.25)
    parser.add_argument("--label-smoothing", type=float, default=0.0,
                        help="label smoothing during pretraining")
    parser.add_argument("--finetune-smoothing", type=float, default=0.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: torch's choice)")
    parser.add_argument("--note", default="", help="free text kept with the record")
    parser.add_argument("--output", type=Path, default=RESULTS)
    options = parser.parse_args()
    if options.threads:
        torch.set_num_threads(options.threads)
    os.environ.setdefault("BOOK_PROGRESS", "off")
    with LoadSampler() as load:
        result = run(options)
    record = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
              "settings": {key: value for key, value in vars(options).items()
                           if key != "output"},
              **result, "load_average": load.summary(), "machine": machine()}
    append_record(record, options.output)
    print(f"Recipe: {json.dumps(record['settings'])}")
    print(f"Test accuracy on classes 5-9: {record['test_accuracy']:.2%} "
          f"({record['test_accuracy_flip_average']:.2%} averaged over flips) in "
          f"{record['seconds']:.0f} s wall, {record['cpu_seconds']:.0f} CPU s, "
          f"load average {record['load_average']['mean']} "
          f"(max {record['load_average']['max']}) on "
          f"{record['machine']['torch_threads']} threads")


if __name__ == "__main__":
    main()
