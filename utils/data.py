"""CIFAR-10 for the book: the shipped archive, checked, decoded once and cached.

The images live in memory as one uint8 tensor of shape (N, 3, 32, 32); labels
are class indices in the original order (airplane = 0 ... truck = 9).
Augmentation works on whole batches as tensor operations, on any device.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import tarfile
from pathlib import Path

import torch

from utils.files import ROOT, atomic_write, cache_dir

CLASSES = (
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
)
PRETRAIN_CLASSES = CLASSES[:5]
FINETUNE_CLASSES = CLASSES[5:]
ARCHIVE = ROOT / "data" / "cifar10-jpg.tar.gz"
ARCHIVE_SHA256 = "cb6c50520509605d4bd1856cb7eaba797dabcec3c19d93ce945b0ec1aee34a5f"
# Per-channel statistics of the CIFAR-10 training images, in [0, 1] units.
MEAN = (0.4914, 0.4822, 0.4465)
STD = (0.2470, 0.2435, 0.2616)
_CACHE_VERSION = 1
_LOADED: dict[Path, dict] = {}  # decoded sets kept for the life of the process


@dataclasses.dataclass
class ImageSet:
    """Images (N, 3, 32, 32) uint8, labels (N,) int64 and the class names."""

    images: torch.Tensor
    labels: torch.Tensor
    classes: tuple[str, ...]

    def __post_init__(self) -> None:
        if self.images.dim() != 4 or tuple(self.images.shape[1:]) != (3, 32, 32):
            raise ValueError(
                "images must have shape (N, 3, 32, 32), "
                f"got {tuple(self.images.shape)}."
            )
        if self.images.shape[0] != self.labels.shape[0]:
            raise ValueError(
                f"{self.images.shape[0]} images but {self.labels.shape[0]} labels."
            )

    def __len__(self) -> int:
        return self.labels.shape[0]

    def to(self, device: torch.device | str) -> "ImageSet":
        """Return the same set with images and labels on ``device``."""
        return ImageSet(self.images.to(device), self.labels.to(device), self.classes)

    def counts(self) -> list[int]:
        """Return how many images each class has."""
        return torch.bincount(self.labels.cpu(), minlength=len(self.classes)).tolist()


def sha256_of(path: Path) -> str:
    """Return the SHA-256 hex digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_archive(path: Path = ARCHIVE) -> Path:
    """Check that the archive exists and has the published checksum.

    Returns:
        The path, when it is good; raises ``FileNotFoundError`` or ``ValueError``
        with what to do otherwise.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"CIFAR-10 archive not found at {path}. It ships with the repository: "
            "restore it with `git checkout -- data/cifar10-jpg.tar.gz`, "
            "or use load_cifar10(source='torchvision') on a machine with a network."
        )
    actual = sha256_of(path)
    if actual != ARCHIVE_SHA256:
        raise ValueError(
            f"{path} has SHA-256 {actual}, expected {ARCHIVE_SHA256}: the file is "
            "truncated or altered. Restore it with "
            "`git checkout -- data/cifar10-jpg.tar.gz`."
        )
    return path


def _decode_archive(path: Path) -> dict[str, ImageSet]:
    """Decode every JPEG of the archive into uint8 tensors, in a fixed order."""
    encoded: dict[str, list[tuple[str, int, bytes]]] = {"train": [], "test": []}
    with tarfile.open(path, "r:gz") as archive:
        for member in archive:
            parts = member.name.split("/")
            if not member.isfile() or len(parts) != 4 or parts[1] not in encoded:
                continue
            _, split, class_name, file_name = parts
            data = archive.extractfile(member).read()
            encoded[split].append((file_name, CLASSES.index(class_name), data))
    sets = {}
    for split, items in encoded.items():
        items.sort(key=lambda item: (item[1], item[0]))
        images = _decode_jpegs([item[2] for item in items])
        labels = torch.tensor([item[1] for item in items], dtype=torch.int64)
        sets[split] = ImageSet(images, labels, CLASSES)
    return sets


def _decode_jpegs(encoded: list[bytes]) -> torch.Tensor:
    """Decode JPEG bytes to (N, 3, 32, 32) uint8: torchvision if it can, else Pillow."""
    try:
        import warnings

        from torchvision.io import ImageReadMode, decode_jpeg

        with warnings.catch_warnings():  # deprecated in torchvision 0.29, still fast
            warnings.simplefilter("ignore", DeprecationWarning)
            raw = [torch.frombuffer(bytearray(data), dtype=torch.uint8)
                   for data in encoded]
            return torch.stack(decode_jpeg(raw, mode=ImageReadMode.RGB))
    except (ImportError, RuntimeError, TypeError):
        import numpy as np
        from PIL import Image

        pixels = [np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
                  for data in encoded]
        return torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).contiguous()


def _load_torchvision(root: Path) -> dict[str, ImageSet]:
    """Download (once) and load the original binary release through torchvision."""
    from torchvision.datasets import CIFAR10

    sets = {}
    for split in ("train", "test"):
        dataset = CIFAR10(str(root), train=split == "train", download=True)
        images = torch.from_numpy(dataset.data).permute(0, 3, 1, 2).contiguous()
        labels = torch.tensor(dataset.targets, dtype=torch.int64)
        sets[split] = ImageSet(images, labels, CLASSES)
    return sets


def _read_cache(path: Path) -> dict[str, ImageSet] | None:
    """Return the cached tensors, or ``None`` if the file is absent or unusable."""
    if not path.is_file():
        return None
    try:
        stored = torch.load(path, weights_only=True)
        sets = {
            split: ImageSet(stored[f"{split}_images"], stored[f"{split}_labels"],
                            CLASSES)
            for split in ("train", "test")
        }
    except Exception:  # a damaged cache is rebuilt, never trusted
        return None
    if stored.get("version") != _CACHE_VERSION:
        return None
    return sets


def load_cifar10(source: str = "archive",
                 archive: Path = ARCHIVE) -> dict[str, ImageSet]:
    """Return ``{"train": ImageSet, "test": ImageSet}`` with all of CIFAR-10.

    Args:
        source: ``"archive"`` for the shipped JPEG archive (checked, decoded once,
            then cached), or ``"torchvision"`` to download the original release.
        archive: the archive to read when ``source="archive"``.

    Returns:
        The training (50,000) and test (10,000) images with their labels.
    """
    if source == "torchvision":
        return _load_torchvision(cache_dir() / "torchvision")
    if source != "archive":
        raise ValueError(f"source={source!r}: use 'archive' or 'torchvision'.")
    archive = Path(archive).resolve()
    # The cache is named after the archive's checksum, so a changed archive is
    # never served from an old cache. Checking the archive costs about 0.1 s.
    verify_archive(archive)
    if archive in _LOADED:
        return _LOADED[archive]
    cache_path = cache_dir() / f"cifar10-{ARCHIVE_SHA256[:16]}-v{_CACHE_VERSION}.pt"
    sets = _read_cache(cache_path)
    if sets is None:
        sets = _decode_archive(archive)
        stored = {"version": _CACHE_VERSION}
        for split, image_set in sets.items():
            stored[f"{split}_images"] = image_set.images
            stored[f"{split}_labels"] = image_set.labels
        with atomic_write(cache_path) as temporary:
            torch.save(stored, temporary)
    _LOADED[archive] = sets
    return sets


def select_classes(data: ImageSet, class_names: tuple[str, ...]) -> ImageSet:
    """Keep only ``class_names``, relabelled 0, 1, ... in the order given.

    Args:
        data: a set whose ``classes`` contain every name asked for.
        class_names: the classes to keep.

    Returns:
        A new set with labels in ``range(len(class_names))``.
    """
    unknown = [name for name in class_names if name not in data.classes]
    if unknown:
        raise ValueError(
            f"Unknown class name(s) {unknown}; the classes are {list(data.classes)}."
        )
    old_labels = torch.tensor([data.classes.index(name) for name in class_names])
    old_labels = old_labels.to(data.labels.device)
    keep = torch.isin(data.labels, old_labels)
    mapping = torch.full((len(data.classes),), -1, dtype=torch.int64)
    mapping[old_labels.cpu()] = torch.arange(len(class_names))
    labels = mapping.to(data.labels.device)[data.labels[keep]]
    return ImageSet(data.images[keep], labels, tuple(class_names))


def stratified_subset(data: ImageSet, per_class: int, seed: int = 0) -> ImageSet:
    """Take ``per_class`` images of every class, chosen at random with ``seed``.

    Returns:
        A new set, ordered by class, with exactly ``per_class`` images per class.
    """
    generator = torch.Generator().manual_seed(seed)
    labels = data.labels.cpu()
    chosen = []
    for label, name in enumerate(data.classes):
        members = torch.nonzero(labels == label).flatten()
        if per_class > len(members):
            raise ValueError(
                f"Asked for {per_class} images of class {name!r}, which has only "
                f"{len(members)}; ask for at most {len(members)}."
            )
        order = torch.randperm(len(members), generator=generator)[:per_class]
        chosen.append(members[order.sort().values])
    index = torch.cat(chosen).to(data.labels.device)
    return ImageSet(data.images[index], data.labels[index], data.classes)


def normalize(images: torch.Tensor) -> torch.Tensor:
    """Turn uint8 images into float32 with zero mean and unit spread per channel."""
    mean = torch.tensor(MEAN, device=images.device).view(1, 3, 1, 1) * 255
    std = torch.tensor(STD, device=images.device).view(1, 3, 1, 1) * 255
    return (images.float() - mean) / std


def augment_batch(
    images: torch.Tensor, generator: torch.Generator, padding: int = 4
) -> torch.Tensor:
    """Randomly crop (after zero padding) and horizontally flip a whole batch.

    Args:
        images: a batch (N, C, H, W) of any dtype, on any device.
        generator: a CPU generator, so that the same seed gives the same crops.
        padding: pixels of padding on each side before cropping.

    Returns:
        A batch of the same shape, dtype and device.
    """
    count, _, height, width = images.shape
    padded = torch.nn.functional.pad(images, (padding,) * 4)
    top = torch.randint(0, 2 * padding + 1, (count,), generator=generator)
    left = torch.randint(0, 2 * padding + 1, (count,), generator=generator)
    flip = torch.rand(count, generator=generator) < 0.5
    rows = (top[:, None] + torch.arange(height)).to(images.device)
    columns = left[:, None] + torch.arange(width)
    columns = torch.where(flip[:, None], columns.flip(1), columns).to(images.device)
    batch = torch.arange(count, device=images.device)[:, None, None]
    # Advanced indexing picks (N, H, W, C); move channels back to dimension 1.
    cropped = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], columns[:, None, :]]
    return cropped.permute(0, 3, 1, 2)


def task_data(
    class_names: tuple[str, ...], train_per_class: int, test_per_class: int,
    seed: int = 0, device: torch.device | str = "cpu",
) -> tuple[ImageSet, ImageSet]:
    """Return (train, test) of ``class_names``: relabelled, subset, on ``device``."""
    sets = load_cifar10()
    train = stratified_subset(select_classes(sets["train"], class_names),
                              train_per_class, seed)
    test = stratified_subset(select_classes(sets["test"], class_names),
                             test_per_class, seed)
    return train.to(device), test.to(device)
