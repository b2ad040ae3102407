"""Chapter 5's levers on a tiny task: they run, keep their budgets and cache."""

import dataclasses

import pytest
import torch

from utils import experiments
from utils.config import settings
from utils.losses import CrossEntropyLoss
from utils.training import TrainConfig, fit

DEVICE = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny(cifar, tmp_path_factory):
    """Settings a hundred times smaller than quick mode, caching into a tmp folder.

    ``cifar`` is requested first so the decoded images come from the book's
    cache; only checkpoints and results go to the temporary folder, shared by
    this module's tests so the tiny model is pretrained once.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BOOK_CACHE_DIR", str(tmp_path_factory.mktemp("levers")))
        yield dataclasses.replace(
            settings("quick"), pretrain_per_class=20, finetune_per_class=10,
            test_per_class=10, pretrain_epochs=1, finetune_epochs=2, width=4,
            batch_size=16, seeds=(0,))


@pytest.fixture(scope="module")
def tiny_task(tiny):
    pretrained, _ = experiments.pretrained_model(tiny, DEVICE, verbose=False)
    train, test = experiments.finetune_data(tiny, DEVICE)
    return tiny, pretrained, train, test


def test_lp_then_finetune_probes_first_and_keeps_the_budget(tiny_task):
    run, pretrained, train, test = tiny_task
    record = experiments.lp_then_finetune(CrossEntropyLoss(), pretrained, train, test,
                                          run, epochs=3, probe_epochs=1, verbose=False)
    phases = [epoch["phase"] for epoch in record["history"]["epochs"]]
    assert phases == ["probe", "fine-tune", "fine-tune"]
    assert [epoch["epoch"] for epoch in record["history"]["epochs"]] == [1, 2, 3]
    assert record["probe_accuracy"] == record["history"]["epochs"][0]["test_accuracy"]
    assert record["backbone_change"] > 0
    assert 0 <= record["accuracy"] <= 1 and record["ece"] >= 0


def test_lp_then_finetune_needs_room_for_both_phases(tiny_task):
    run, pretrained, train, test = tiny_task
    with pytest.raises(ValueError, match="probe_epochs"):
        experiments.lp_then_finetune(CrossEntropyLoss(), pretrained, train, test, run,
                                     epochs=2, probe_epochs=2, verbose=False)


def test_a_linear_probe_leaves_the_backbone_where_it_was(tiny_task):
    run, pretrained, train, test = tiny_task
    model = experiments.prepare_model("linear", pretrained, seed=0)
    fit(model, CrossEntropyLoss(), train, None, TrainConfig(epochs=1, batch_size=16),
        verbose=False)
    assert experiments.backbone_change(model, pretrained) == 0.0


def test_test_loss_is_recorded_for_every_epoch(tiny_task):
    run, pretrained, train, test = tiny_task
    record = experiments.finetune(CrossEntropyLoss(), pretrained, train, test, run,
                                  epochs=3, verbose=False)
    epochs = record["history"]["epochs"]
    assert len(epochs) == 3 and all(epoch["test_nll"] > 0 for epoch in epochs)
    assert epochs[-1]["test_nll"] == pytest.approx(record["nll"], rel=1e-4)


def test_final_only_evaluation_skips_the_per_epoch_test(tiny_task):
    run, pretrained, train, test = tiny_task
    record = experiments.finetune(CrossEntropyLoss(), pretrained, train, test, run,
                                  epochs=2, verbose=False, evaluate_each_epoch=False)
    assert all("test_accuracy" not in epoch for epoch in record["history"]["epochs"])
    assert 0.0 <= record["accuracy"] <= 1.0


def test_data_lever_gives_every_fraction_the_same_number_of_steps(tiny):
    records = experiments.data_lever(tiny, DEVICE, (0.2, 1.0))
    assert [(r["per_class"], r["strategy"]) for r in records] == [
        (2, "full"), (2, "scratch"), (10, "full"), (10, "scratch")]
    steps = {r["per_class"]: r["epochs"] * -(-5 * r["per_class"] // 16)
             for r in records}
    assert steps[2] >= steps[10] == tiny.finetune_epochs * 4
    again = experiments.data_lever(tiny, DEVICE, (0.2, 1.0))  # now from the cache
    assert [r["accuracy"] for r in again] == [r["accuracy"] for r in records]


def test_width_lever_counts_more_parameters_for_wider_models(tiny):
    records = experiments.width_lever(tiny, DEVICE, (2, 4))
    parameters = {r["width"]: r["parameters"] for r in records}
    assert parameters[2] < parameters[4]
    assert all(0 <= r["pretrain_accuracy"] <= 1 for r in records)
    assert {r["strategy"] for r in records} == set(experiments.LEVER_STRATEGIES)


def test_epochs_lever_trains_each_budget(tiny):
    records = experiments.epochs_lever(tiny, DEVICE, (1, 2))
    assert [len(r["history"]["epochs"]) for r in records] == [2, 4]
    assert all("test_nll" in epoch for epoch in records[1]["history"]["epochs"])


def test_lpft_lever_and_seed_noise(tiny):
    records = experiments.lpft_lever(tiny, DEVICE)
    assert [r["method"] for r in records] == ["fine-tuning", "LP-FT"]
    noise = experiments.seed_noise(tiny, DEVICE, num_seeds=2)
    assert [r["seed"] for r in noise] == [0, 1]


@pytest.mark.parametrize("difference, spread, runs, expected", [
    (0.01, 0.01, 1, True), (0.05, 0.01, 1, False), (0.02, 0.01, 3, False),
    (0.0, 0.0, 1, True)])
def test_within_noise(difference, spread, runs, expected):
    assert experiments.within_noise(difference, spread, runs) is expected


def test_mean_rows_averages_only_the_matching_records():
    metrics = {"nll": 1.0, "ece": 0.1}
    records = [{"width": 4, "strategy": "full", "accuracy": 0.5, **metrics},
               {"width": 4, "strategy": "full", "accuracy": 0.7, **metrics},
               {"width": 4, "strategy": "scratch", "accuracy": 0.1, **metrics}]
    [row] = experiments.mean_rows(records, "width", strategy="full")
    assert row["label"] == 4 and row["runs"] == 2
    assert row["accuracy"] == pytest.approx(0.6)


def test_noise_band_is_two_standard_errors_of_a_difference_of_means():
    assert experiments.noise_band(0.01, 1) == pytest.approx(0.02 * 2 ** 0.5)
    assert experiments.noise_band(0.01, 2) == pytest.approx(0.02)
    assert experiments.within_noise(0.0199, 0.01, 2)
    assert not experiments.within_noise(0.0201, 0.01, 2)
