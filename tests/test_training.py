"""The training loop on real images: it learns, it repeats, it saves."""

import pytest
import torch

from utils.data import FINETUNE_CLASSES, select_classes, stratified_subset
from utils.losses import CrossEntropyLoss
from utils.models import SmallResNet
from utils.training import (TrainConfig, evaluate, fit, load_checkpoint,
                            save_checkpoint, seed_everything)


@pytest.fixture(scope="module")
def small_task(cifar):
    train = stratified_subset(select_classes(cifar["train"], FINETUNE_CLASSES), 40)
    return train


def _train(small_task, epochs=3, seed=0):
    seed_everything(seed)
    model = SmallResNet(num_classes=5, width=8)
    config = TrainConfig(epochs=epochs, batch_size=50, learning_rate=0.05, seed=seed)
    history = fit(model, CrossEntropyLoss(), small_task, small_task, config,
                  verbose=False)
    return model, history


def test_a_few_epochs_lower_the_loss(small_task):
    _, history = _train(small_task, epochs=4)
    losses = history.column("train_loss")
    assert losses[-1] < losses[0]
    assert set(history.final) >= {"train_loss", "train_accuracy", "test_accuracy",
                                  "seconds"}
    assert 0.0 <= history.final["test_accuracy"] <= 1.0


def test_same_seed_gives_the_same_history_on_cpu(small_task):
    _, first = _train(small_task, epochs=2, seed=5)
    _, second = _train(small_task, epochs=2, seed=5)
    strip = lambda h: [{k: v for k, v in r.items() if k != "seconds"} for r in h.epochs]
    assert strip(first) == strip(second)


def test_checkpoint_round_trip(small_task, tmp_path):
    model, _ = _train(small_task, epochs=1)
    path = save_checkpoint(model, tmp_path / "model.pt")
    restored = load_checkpoint(SmallResNet(num_classes=5, width=8), path)
    for key, value in model.state_dict().items():
        assert torch.equal(value, restored.state_dict()[key])
    assert evaluate(model, small_task) == evaluate(restored, small_task)


def test_missing_checkpoint_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="train the model first"):
        load_checkpoint(SmallResNet(width=8), tmp_path / "absent.pt")
