"""The run mode of the whole book, read once, and the sizes each mode implies.

Set ``BOOK_MODE=quick`` (the default: a CPU, a minute or so a chapter) or
``BOOK_MODE=full`` (the real experiment: a GPU, or a longer CPU run).
Notebooks ask :func:`settings` for sizes; they never hard-code them.
"""

from __future__ import annotations

import dataclasses
import os

MODE_VARIABLE = "BOOK_MODE"
MODES = ("quick", "full")


@dataclasses.dataclass(frozen=True)
class Settings:
    """Every size that differs between the quick and the full run."""

    mode: str
    pretrain_per_class: int  # training images per pretraining class (of 5,000)
    finetune_per_class: int  # training images per fine-tuning class (of 5,000)
    test_per_class: int  # test images per class (CIFAR-10 has 1,000)
    pretrain_epochs: int
    finetune_epochs: int
    width: int  # channels of the first block; later blocks double it
    batch_size: int
    seeds: tuple[int, ...]  # one training run per seed where a chapter compares


QUICK = Settings(
    mode="quick",
    pretrain_per_class=2000,
    finetune_per_class=200,
    test_per_class=200,
    pretrain_epochs=6,
    finetune_epochs=6,
    width=16,
    batch_size=128,
    seeds=(0,),
)

# Full mode is the real experiment: all 25,000 pretraining images, half of the
# 25,000 fine-tuning images (fine-tuning is the small-data side of transfer, and
# chapter 5 varies this number), every test image of the ten classes, three
# seeds. Meant for a GPU; on 2 CPU cores the stored run took 103 minutes (the
# stored outputs record their own times).
FULL = Settings(
    mode="full",
    pretrain_per_class=5000,
    finetune_per_class=2500,
    test_per_class=1000,
    pretrain_epochs=6,
    finetune_epochs=10,
    width=16,
    batch_size=256,
    seeds=(0, 1, 2),
)


def run_mode() -> str:
    """Return the run mode named by ``BOOK_MODE`` (``quick`` when unset)."""
    mode = os.environ.get(MODE_VARIABLE, "quick").strip().lower() or "quick"
    if mode not in MODES:
        raise ValueError(
            f"{MODE_VARIABLE}={mode!r} is not a run mode; "
            f"set it to one of {', '.join(MODES)}."
        )
    return mode


def settings(mode: str | None = None) -> Settings:
    """Return the sizes of ``mode`` (default: the mode named by ``BOOK_MODE``).

    Args:
        mode: ``"quick"`` or ``"full"``; ``None`` reads the environment.

    Returns:
        The frozen :class:`Settings` of that mode.
    """
    mode = run_mode() if mode is None else mode
    if mode not in MODES:
        raise ValueError(f"mode={mode!r} is not a run mode; use one of {MODES}.")
    return QUICK if mode == "quick" else FULL
