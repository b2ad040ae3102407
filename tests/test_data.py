"""The shipped archive, the cache, class splits, subsets and augmentation."""

import shutil

import pytest
import torch

from utils import data
from utils.data import (CLASSES, FINETUNE_CLASSES, PRETRAIN_CLASSES, ImageSet,
                        augment_batch, load_cifar10, select_classes,
                        stratified_subset)


def test_archive_has_the_published_checksum():
    assert data.verify_archive() == data.ARCHIVE


def test_real_archive_decodes_to_all_of_cifar10(cifar):
    train, test = cifar["train"], cifar["test"]
    assert train.images.shape == (50000, 3, 32, 32)
    assert test.images.shape == (10000, 3, 32, 32)
    assert train.images.dtype == torch.uint8
    assert train.counts() == [5000] * 10
    assert test.counts() == [1000] * 10
    # Real photographs: every class has a spread of pixel values, not a constant.
    assert 90 < train.images.float().mean() < 150
    assert train.images.float().std() > 40


def test_cache_is_reused_and_a_damaged_cache_is_rebuilt(tmp_path, monkeypatch, cifar):
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(data, "_LOADED", {})
    first = load_cifar10()
    cache_files = list(tmp_path.glob("cifar10-*.pt"))
    assert len(cache_files) == 1
    cache_files[0].write_bytes(cache_files[0].read_bytes()[:1000])  # a killed write
    monkeypatch.setattr(data, "_LOADED", {})
    rebuilt = load_cifar10()
    assert torch.equal(rebuilt["test"].images, first["test"].images)
    assert torch.equal(first["train"].labels, cifar["train"].labels)


def test_missing_archive_says_how_to_restore_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="git checkout"):
        load_cifar10(archive=tmp_path / "absent.tar.gz")


def test_altered_archive_names_file_and_expected_checksum(tmp_path):
    altered = tmp_path / "cifar10-jpg.tar.gz"
    shutil.copy(data.ARCHIVE, altered)
    with open(altered, "r+b") as stream:
        stream.truncate(1_000_000)
    with pytest.raises(ValueError, match=data.ARCHIVE_SHA256) as error:
        load_cifar10(archive=altered)
    assert str(altered) in str(error.value)


def test_select_classes_relabels_in_the_order_given(cifar):
    finetune = select_classes(cifar["test"], FINETUNE_CLASSES)
    assert finetune.classes == FINETUNE_CLASSES
    assert finetune.counts() == [1000] * 5
    original = cifar["test"].labels[torch.isin(cifar["test"].labels,
                                               torch.arange(5, 10))]
    assert torch.equal(finetune.labels, original - 5)
    pretrain = select_classes(cifar["test"], PRETRAIN_CLASSES)
    assert set(pretrain.labels.tolist()) == {0, 1, 2, 3, 4}


def test_unknown_class_name_lists_the_real_ones(cifar):
    with pytest.raises(ValueError, match="airplane"):
        select_classes(cifar["test"], ("dog", "class 13"))


def test_stratified_subset_counts_and_seed(cifar):
    finetune = select_classes(cifar["train"], FINETUNE_CLASSES)
    subset = stratified_subset(finetune, 37, seed=3)
    assert subset.counts() == [37] * 5
    again = stratified_subset(finetune, 37, seed=3)
    other = stratified_subset(finetune, 37, seed=4)
    assert torch.equal(subset.images, again.images)
    assert not torch.equal(subset.images, other.images)


def test_subset_larger_than_the_class_is_refused(cifar):
    with pytest.raises(ValueError, match="at most 1000"):
        stratified_subset(select_classes(cifar["test"], ("cat",)), 1001)


def test_image_set_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match=r"\(N, 3, 32, 32\)"):
        ImageSet(torch.zeros(4, 32, 28, 28, dtype=torch.uint8),
                 torch.zeros(4, dtype=torch.int64), CLASSES)


def test_augmentation_crops_and_flips_real_pixels(cifar):
    images = cifar["test"].images[:64]
    generator = torch.Generator().manual_seed(0)
    augmented = augment_batch(images, generator, padding=4)
    assert augmented.shape == images.shape and augmented.dtype == images.dtype
    assert not torch.equal(augmented, images)
    # With no padding, every image is itself or its mirror image.
    unpadded = augment_batch(images, torch.Generator().manual_seed(1), padding=0)
    same = (unpadded == images).flatten(1).all(1)
    mirrored = (unpadded == images.flip(3)).flatten(1).all(1)
    assert (same | mirrored).all() and mirrored.any() and same.any()
