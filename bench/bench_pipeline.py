"""Measure the book's training path against the usual PyTorch one, side by side.

    .venv/bin/python bench/bench_pipeline.py              # about three minutes
    .venv/bin/python bench/bench_pipeline.py --steps 100 --repeats 3
    .venv/bin/python bench/bench_pipeline.py --chapters   # also time each chapter

Both pipelines train the same model (``SmallResNet``) on the same real CIFAR-10
images with the same optimiser. The usual pipeline is written as the PyTorch
CIFAR-10 tutorial writes it: a ``Dataset`` of PIL images with per-image
transforms, a shuffling ``DataLoader`` with worker processes, float32. Ours is
``utils.training.fit``: uint8 images in memory, whole-batch augmentation,
``channels_last`` and bfloat16 autocast. The figures go to
``bench/results/pipeline.json``. This is a script, not a test.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch
import torchvision
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import transforms

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from utils.data import (MEAN, PRETRAIN_CLASSES, STD, ImageSet, augment_batch,  # noqa
                        load_cifar10, normalize, select_classes, stratified_subset)
from utils.files import atomic_write  # noqa: E402
from utils.models import SmallResNet  # noqa: E402
from utils.training import (TrainConfig, autocast, evaluate, fit,  # noqa: E402
                            learning_rate_at, predict_logits, seed_everything)

RESULTS = ROOT / "bench" / "results"
TUTORIAL_BATCH_SIZE = 4  # what the PyTorch CIFAR-10 tutorial uses
TUTORIAL_WORKERS = 2


def machine() -> dict:
    """Describe the machine and the libraries: CPU model, threads, versions."""
    cpu_model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass  # not Linux: keep what platform reports
    return {
        "cpu": cpu_model,
        "logical_cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        # Settings that change CPU speed, recorded when set.
        "environment": {name: os.environ[name] for name in (
            "OMP_NUM_THREADS", "OMP_WAIT_POLICY", "ONEDNN_MAX_CPU_ISA")
            if name in os.environ},
    }


class TutorialDataset(Dataset):
    """CIFAR-10 as torchvision's ``CIFAR10`` holds it: HWC uint8, a PIL image each."""

    def __init__(self, data: ImageSet, transform) -> None:
        self.data = data.images.cpu().permute(0, 2, 3, 1).contiguous().numpy()
        self.targets = data.labels.cpu().tolist()
        self.transform = transform

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int):
        image = self.transform(Image.fromarray(self.data[index]))
        return image, self.targets[index]


def tutorial_transforms(train: bool):
    """Return the usual per-image transforms (augmentation only when training)."""
    steps = [transforms.RandomCrop(32, padding=4), transforms.RandomHorizontalFlip()]
    return transforms.Compose((steps if train else []) + [
        transforms.ToTensor(), transforms.Normalize(MEAN, STD)])


def tutorial_loader(data: ImageSet, batch_size: int, train: bool,
                    workers: int) -> DataLoader:
    """Return the usual ``DataLoader`` (shuffled when training)."""
    return DataLoader(TutorialDataset(data, tutorial_transforms(train)),
                      batch_size=batch_size, shuffle=train, num_workers=workers)


def new_model(num_classes: int, width: int, seed: int = 0) -> SmallResNet:
    seed_everything(seed)
    return SmallResNet(num_classes, width)


def sgd(model: nn.Module, learning_rate: float) -> torch.optim.Optimizer:
    """The optimiser of ``fit``, so both pipelines take the same steps."""
    return torch.optim.SGD(model.parameters(), lr=learning_rate, momentum=0.9,
                           nesterov=True, weight_decay=5e-4)


def usual_steps(model: nn.Module, loader: DataLoader, steps: int, warmup: int,
                schedule=None) -> tuple[int, float]:
    """Train for ``warmup + steps`` batches the usual way; time the last ``steps``.

    Returns:
        (images seen in the timed steps, seconds they took).
    """
    optimizer, loss_fn = sgd(model, 0.05), nn.CrossEntropyLoss()
    model.train()
    done = images_seen = 0
    started = time.perf_counter()
    while done < warmup + steps:
        for images, labels in loader:
            if done == warmup:
                started, images_seen = time.perf_counter(), 0
            if schedule is not None:
                optimizer.param_groups[0]["lr"] = schedule(done)
            loss = loss_fn(model(images), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            done, images_seen = done + 1, images_seen + len(labels)
            if done == warmup + steps:
                break
    return images_seen, time.perf_counter() - started


def our_steps(model: nn.Module, train: ImageSet, batch_size: int, steps: int,
              warmup: int, channels_last: bool, bfloat16: bool) -> tuple[int, float]:
    """The step of ``fit``, with ``channels_last`` and bfloat16 switchable.

    Returns:
        (images seen in the timed steps, seconds they took).
    """
    if channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer, loss_fn = sgd(model, 0.05), nn.CrossEntropyLoss()
    generator = torch.Generator().manual_seed(0)
    device = torch.device("cpu")
    model.train()
    started = time.perf_counter()
    for step in range(warmup + steps):
        if step == warmup:
            started = time.perf_counter()
        index = torch.randint(0, len(train), (batch_size,), generator=generator)
        images = normalize(augment_batch(train.images[index], generator))
        if channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast(device, bfloat16):
            logits = model(images).float()
        loss = loss_fn(logits, train.labels[index])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        loss.item()  # fit reads the loss every step; keep the same work
    return steps * batch_size, time.perf_counter() - started


def our_fit(model: nn.Module, train: ImageSet, batch_size: int, steps: int,
            warmup: int) -> tuple[int, float]:
    """Time ``utils.training.fit`` itself for exactly ``steps`` steps (one epoch)."""
    loss_fn = nn.CrossEntropyLoss()
    warm_config = TrainConfig(epochs=1, batch_size=batch_size)
    fit(model, loss_fn, train_slice(train, warmup * batch_size), None, warm_config,
        verbose=False)
    timed = train_slice(train, steps * batch_size)
    started = time.perf_counter()
    fit(model, loss_fn, timed, None, warm_config, verbose=False)
    return len(timed), time.perf_counter() - started


def train_slice(data: ImageSet, count: int) -> ImageSet:
    """The first ``count`` images of a shuffled copy (all classes represented)."""
    order = torch.randperm(len(data), generator=torch.Generator().manual_seed(1))
    index = order[:count]
    return ImageSet(data.images[index], data.labels[index], data.classes)


def measure_all(variants: dict, repeats: int, kind: str) -> dict:
    """Time every variant ``repeats`` times, round-robin; keep each one's fastest run.

    Round-robin spreads the other programs' load evenly over the variants, and
    the fastest run is the one they disturbed least.
    """
    runs: dict[str, list[float]] = {name: [] for name in variants}
    errors: dict[str, str] = {}
    for _ in range(repeats):
        for name, measure in variants.items():
            if name in errors:
                continue
            try:
                images, seconds = measure()
                runs[name].append(images / seconds)
            except Exception as error:  # e.g. worker processes refused
                errors[name] = f"{type(error).__name__}: {error}"
    results = {}
    for name in variants:
        if name in errors:
            results[name] = {"error": errors[name]}
        else:
            results[name] = {"images_per_second": round(max(runs[name]), 1),
                             "all_runs": [round(rate, 1) for rate in runs[name]]}
        print(f"  {kind} {name:38s} {describe(results[name])}", flush=True)
    return results


def train_throughput(train: ImageSet, options) -> dict:
    """Images per second of every training variant, on the same images."""
    steps, warmup, batch = options.steps, options.warmup, options.batch_size
    classes, width = len(train.classes), options.width

    def usual(workers: int, batch_size: int, count: int):
        loader = tutorial_loader(train, batch_size, True, workers)
        return lambda: usual_steps(new_model(classes, width), loader, count, warmup)

    variants = {
        "usual_workers2": usual(TUTORIAL_WORKERS, batch, steps),
        "usual_workers0": usual(0, batch, steps),
        f"usual_tutorial_batch{TUTORIAL_BATCH_SIZE}": usual(
            TUTORIAL_WORKERS, TUTORIAL_BATCH_SIZE, options.tutorial_steps),
        "ours_fit": lambda: our_fit(new_model(classes, width), train, batch, steps,
                                    warmup),
    }
    for channels_last in (True, False):
        for bfloat16 in (True, False):
            name = (f"ours_channels_last_{'on' if channels_last else 'off'}"
                    f"_bf16_{'on' if bfloat16 else 'off'}")
            variants[name] = (lambda cl=channels_last, bf=bfloat16: our_steps(
                new_model(classes, width), train, batch, steps, warmup, cl, bf))
    return measure_all(variants, options.repeats, "train")


def usual_predict(model: nn.Module, data: ImageSet, batch_size: int,
                  workers: int) -> torch.Tensor:
    """Logits the usual way: a ``DataLoader``, ``model.eval()``, ``no_grad``."""
    model.eval()
    outputs = []
    with torch.no_grad():
        for images, _ in tutorial_loader(data, batch_size, False, workers):
            outputs.append(model(images))
    return torch.cat(outputs)


def eval_throughput(test: ImageSet, options) -> dict:
    """Images per second of evaluation, the usual way and ours (with ablations)."""
    model = new_model(len(test.classes), options.width)
    batch = options.eval_batch_size

    def timed(predict):
        def measure():
            predict()  # warm-up pass: the first pass pays one-off set-up costs
            started = time.perf_counter()
            predict()
            return len(test), time.perf_counter() - started
        return measure

    def ours(channels_last: bool, bfloat16: bool):
        def predict():
            model.to(memory_format=torch.channels_last if channels_last
                     else torch.contiguous_format)
            if channels_last:
                return predict_logits(model, test, batch, mixed_precision=bfloat16)
            with torch.inference_mode(), autocast(torch.device("cpu"), bfloat16):
                model.eval()
                return torch.cat([model(normalize(test.images[start:start + batch]))
                                  for start in range(0, len(test), batch)])
        return predict

    variants = {
        "usual_workers2": lambda: usual_predict(model, test, batch, TUTORIAL_WORKERS),
        "usual_workers0": lambda: usual_predict(model, test, batch, 0),
        "ours_predict_logits": ours(True, True),
        "ours_channels_last_on_bf16_off": ours(True, False),
        "ours_channels_last_off_bf16_on": ours(False, True),
        "ours_channels_last_off_bf16_off": ours(False, False),
    }
    return measure_all({name: timed(predict) for name, predict in variants.items()},
                       options.repeats, "eval ")


def describe(result: dict) -> str:
    if "error" in result:
        return f"failed: {result['error']}"
    return f"{result['images_per_second']:9.1f} images/s"


def usual_accuracy(train: ImageSet, test: ImageSet, options, seed: int) -> dict:
    """Train and test the usual pipeline (2 workers, or 0 if 2 fail) for one seed."""
    batch, epochs, rate = options.batch_size, options.accuracy_epochs, 0.2
    total = epochs * -(-len(train) // batch)
    for workers in (TUTORIAL_WORKERS, 0):
        # The same one-cycle schedule, optimiser and seed as ours; only the
        # pipeline and the precision differ.
        model = new_model(len(train.classes), options.width, seed)
        loader = tutorial_loader(train, batch, True, workers)
        try:
            started = time.perf_counter()
            usual_steps(model, loader, total, 0,
                        schedule=lambda step: learning_rate_at(step, total, rate, 0.25))
            seconds = time.perf_counter() - started
        except Exception as error:
            print(f"  usual pipeline with {workers} workers failed: {error}")
            continue
        logits = usual_predict(model, test, options.eval_batch_size, workers)
        accuracy = (logits.argmax(1) == test.labels).float().mean().item()
        return {"workers": workers, "test_accuracy": round(accuracy, 4),
                "seconds": round(seconds, 1)}
    raise RuntimeError("The usual pipeline failed with 2 and with 0 workers.")


def our_accuracy(train: ImageSet, test: ImageSet, options, seed: int) -> dict:
    """Train with ``fit`` and test with ``evaluate`` for one seed."""
    model = new_model(len(train.classes), options.width, seed)
    config = TrainConfig(epochs=options.accuracy_epochs, batch_size=options.batch_size,
                         learning_rate=0.2, seed=seed)
    started = time.perf_counter()
    fit(model, nn.CrossEntropyLoss(), train, None, config, verbose=False)
    seconds = time.perf_counter() - started
    return {"test_accuracy": round(evaluate(model, test), 4),
            "seconds": round(seconds, 1)}


def accuracy_after_same_epochs(train: ImageSet, test: ImageSet, options) -> dict:
    """Train both pipelines for the same epochs on the same images; test both."""
    results = {}
    for name, run in (("usual", usual_accuracy), ("ours", our_accuracy)):
        runs = [run(train, test, options, seed)
                for seed in range(options.accuracy_seeds)]
        accuracies = [item["test_accuracy"] for item in runs]
        results[name] = {"mean_test_accuracy": round(sum(accuracies) / len(runs), 4),
                         "runs": runs}
        print(f"  {name:5s}: test accuracy {results[name]['mean_test_accuracy']:.2%} "
              f"(mean of seeds {', '.join(f'{value:.2%}' for value in accuracies)}) "
              f"after {options.accuracy_epochs} epochs of {len(train)} images, "
              f"{sum(item['seconds'] for item in runs):.0f} s in all")
    return results


def chapter_times(with_site: bool, only: list[str] | None = None) -> dict:
    """Run every chapter in quick mode on a copy of the book; return the seconds.

    The copy has its own empty cache, as a fresh clone has, so the times include
    decoding the archive and pretraining once.
    """
    with tempfile.TemporaryDirectory(prefix="bench-book-") as folder:
        copy = Path(folder) / "book"
        copy.mkdir()
        for name in ("book", "utils", "scripts"):
            shutil.copytree(ROOT / name, copy / name,
                            ignore=shutil.ignore_patterns("__pycache__"))
        for name in ("_config.yml", "_toc.yml"):
            shutil.copy(ROOT / name, copy / name)
        (copy / "data").symlink_to(ROOT / "data")
        environment = {**os.environ, "BOOK_MODE": "quick",
                       "BOOK_CACHE_DIR": str(Path(folder) / "cache")}
        command = [sys.executable, "scripts/run_book.py"]
        if not with_site:
            command.append("--no-site")
        if only:
            command += ["--only", *only]
        started = time.perf_counter()
        subprocess.run(command, cwd=copy, env=environment, check=True)
        total = time.perf_counter() - started
        record = json.loads((copy / "_build" / "chapter-times-quick.json").read_text())
    chapters = record["chapters"]
    result = {"chapters": chapters, "chapters_total": round(sum(chapters.values()), 1)}
    if with_site:
        result["site_build"] = round(total - sum(chapters.values()), 1)
    return result


def ratio(results: dict, ours: str, usual: str) -> float | None:
    if "error" in results.get(ours, {"error": 1}) or "error" in results.get(
            usual, {"error": 1}):
        return None
    return round(results[ours]["images_per_second"]
                 / results[usual]["images_per_second"], 2)


def best_usual(results: dict) -> str:
    """The name of the fastest usual variant at the common batch size."""
    usable = [name for name in ("usual_workers2", "usual_workers0")
              if "error" not in results.get(name, {"error": 1})]
    return max(usable, key=lambda name: results[name]["images_per_second"])


def throughput(train: ImageSet, test: ImageSet, options) -> tuple[dict, dict, dict]:
    """Measure and print training and evaluation speed; return them with the ratios."""
    print(f"Training throughput ({options.steps} steps of {options.batch_size} "
          f"images after {options.warmup} warm-up steps, best of {options.repeats}):")
    training = train_throughput(train, options)
    print(f"Evaluation throughput ({len(test)} test images, batches of "
          f"{options.eval_batch_size}):")
    evaluation = eval_throughput(test, options)
    usual_name = "usual_workers2" if "error" not in training.get(
        "usual_workers2", {}) else "usual_workers0"
    ratios = {
        "train_ours_vs_usual": ratio(training, "ours_fit", usual_name),
        "train_ours_vs_best_usual": ratio(training, "ours_fit", best_usual(training)),
        "train_ours_vs_tutorial_batch4": ratio(
            training, "ours_fit", f"usual_tutorial_batch{TUTORIAL_BATCH_SIZE}"),
        "eval_ours_vs_usual": ratio(evaluation, "ours_predict_logits", usual_name),
        "eval_ours_vs_best_usual": ratio(evaluation, "ours_predict_logits",
                                         best_usual(evaluation)),
    }
    print(f"Ratio, ours / usual ({usual_name}): training "
          f"{ratios['train_ours_vs_usual']}x, evaluation "
          f"{ratios['eval_ours_vs_usual']}x; against the faster usual variant: "
          f"{ratios['train_ours_vs_best_usual']}x and "
          f"{ratios['eval_ours_vs_best_usual']}x")
    return training, evaluation, ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=15,
                        help="timed training steps per variant (default 15)")
    parser.add_argument("--warmup", type=int, default=3,
                        help="untimed steps before timing (default 3)")
    parser.add_argument("--repeats", type=int, default=2,
                        help="runs per variant; the fastest counts (default 2)")
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--eval-batch-size", type=int, default=1000)
    parser.add_argument("--tutorial-steps", type=int, default=100,
                        help="timed steps at the tutorial's batch size of 4")
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--accuracy-epochs", type=int, default=2)
    parser.add_argument("--accuracy-per-class", type=int, default=1000,
                        help="training images per class for the accuracy check")
    parser.add_argument("--accuracy-seeds", type=int, default=2,
                        help="seeds (runs per pipeline) for the accuracy check")
    parser.add_argument("--skip-accuracy", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true",
                        help="only the accuracy check (and --chapters if given)")
    parser.add_argument("--chapters", action="store_true",
                        help="also run every chapter in quick mode (minutes)")
    parser.add_argument("--chapter", action="append", default=None,
                        help="with --chapters, time only this notebook (repeatable)")
    parser.add_argument("--site", action="store_true",
                        help="with --chapters, also build the site and time it")
    parser.add_argument("--output", type=Path, default=RESULTS / "pipeline.json")
    options = parser.parse_args()

    load_start = os.getloadavg()
    info = machine()
    print(f"Machine: {info['cpu']}, {info['torch_threads']} torch threads, "
          f"torch {info['torch']}, torchvision {info['torchvision']}, "
          f"Python {info['python']}; load average {load_start[0]:.2f}")
    sets = load_cifar10()
    train = select_classes(sets["train"], PRETRAIN_CLASSES)  # 25,000 images
    test = select_classes(sets["test"], PRETRAIN_CLASSES)  # 5,000 images
    training = evaluation = ratios = None
    if not options.skip_throughput:
        training, evaluation, ratios = throughput(train, test, options)
    accuracy = None
    if not options.skip_accuracy:
        subset = stratified_subset(train, options.accuracy_per_class, seed=0)
        print(f"Accuracy after {options.accuracy_epochs} epochs on {len(subset)} "
              f"images, tested on {len(test)}:")
        accuracy = accuracy_after_same_epochs(subset, test, options)
    chapters = None
    if options.chapters:
        print("Chapters in quick mode, on a copy of the book:")
        chapters = chapter_times(options.site, options.chapter)
        print(json.dumps(chapters, indent=1))
    record = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": info,
        "load_average_start": [round(value, 2) for value in load_start],
        "load_average_end": [round(value, 2) for value in os.getloadavg()],
        "settings": {key: value for key, value in vars(options).items()
                     if key != "output"},
        "model": f"SmallResNet(width={options.width})",
        "data": f"{len(train)} training and {len(test)} test images, classes 0-4",
        "train_images_per_second": training,
        "eval_images_per_second": evaluation,
        "ratios": ratios,
        "accuracy_same_epochs": accuracy,
        "quick_mode_times": chapters,
    }
    with atomic_write(options.output) as temporary:
        temporary.write_text(json.dumps(record, indent=1) + "\n")
    print(f"Wrote {options.output}")


if __name__ == "__main__":
    main()
