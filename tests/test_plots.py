"""The plotting helpers: margin curves of a loss, line plots and rows of images."""

import matplotlib

matplotlib.use("Agg")  # no display is needed, or available, under pytest

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from utils.losses import CrossEntropyLoss  # noqa: E402
from utils.plots import loss_by_margin, plot_curves, show_image_rows  # noqa: E402


def test_cross_entropy_by_margin_matches_its_closed_form():
    margins = torch.linspace(-6, 6, 7)
    losses, gradients = loss_by_margin(CrossEntropyLoss(), margins, num_classes=4)
    # With the other three logits at zero: p_y = e^m / (e^m + 3).
    p_correct = torch.exp(margins.double()) / (torch.exp(margins.double()) + 3)
    assert torch.allclose(losses, -torch.log(p_correct), atol=1e-5)
    assert torch.allclose(gradients, p_correct - 1, atol=1e-5)


def test_loss_by_margin_ignores_the_reduction_of_the_loss():
    margins = torch.tensor([-2.0, 0.0, 2.0])
    mean = loss_by_margin(CrossEntropyLoss(reduction="mean"), margins, 3)
    total = loss_by_margin(CrossEntropyLoss(reduction="sum"), margins, 3)
    assert torch.allclose(mean[0], total[0]) and torch.allclose(mean[1], total[1])


def test_loss_by_margin_rejects_bad_arguments():
    with pytest.raises(ValueError, match="at least 2"):
        loss_by_margin(CrossEntropyLoss(), torch.zeros(3), num_classes=1)
    with pytest.raises(ValueError, match="1-D"):
        loss_by_margin(CrossEntropyLoss(), torch.zeros(2, 2))


def test_plot_curves_draws_one_labelled_line_per_curve():
    x = torch.linspace(0, 1, 5)
    ax = plot_curves(x, {"a": x, "b": x ** 2}, "x (units)", "y (units)", log_y=True,
                     title="t")
    assert [line.get_label() for line in ax.get_lines()] == ["a", "b"]
    assert ax.get_xlabel() == "x (units)" and ax.get_yscale() == "log"
    plt.close(ax.figure)


def test_plot_curves_rejects_a_curve_of_the_wrong_length():
    with pytest.raises(ValueError, match="one y per x"):
        plot_curves(torch.zeros(3), {"a": torch.zeros(4)}, "x", "y")
    plt.close("all")


def test_show_image_rows_labels_each_row():
    images = torch.zeros(3, 3, 32, 32, dtype=torch.uint8)
    ax = show_image_rows({"original": images, "augmented": images + 255})
    assert [label.get_text() for label in ax.get_yticklabels()] == ["original",
                                                                   "augmented"]
    assert ax.get_images()[0].get_array().shape == (64, 96, 3)
    plt.close(ax.figure)


def test_show_image_rows_rejects_batches_of_different_shapes():
    with pytest.raises(ValueError, match="same batch shape"):
        show_image_rows({"a": torch.zeros(2, 3, 32, 32),
                         "b": torch.zeros(3, 3, 32, 32)})
    plt.close("all")
