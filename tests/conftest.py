"""Shared fixtures: the decoded data set and the repository root on sys.path."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


@pytest.fixture(scope="session")
def cifar():
    """All of CIFAR-10, decoded from the shipped archive (cached after one run)."""
    from utils.data import load_cifar10

    return load_cifar10()
