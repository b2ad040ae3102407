"""The site builds from the stored outputs, with warnings as errors."""

from pathlib import Path

import pytest
import yaml
from site_fixture import built_site

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """Build the site once (no execution) and return the folder of its HTML."""
    return built_site(tmp_path_factory)


def toc_files():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    return [toc["root"]] + [entry["file"] for entry in toc["chapters"]]


def test_every_toc_entry_has_a_page(site):
    for name in toc_files():
        assert (site / f"{name}.html").is_file(), name


def test_cifar_chapter_shows_stored_results_with_their_provenance(site):
    page = (site / "book" / "04_cifar10.html").read_text()
    assert "Run mode:" in page and "hardware:" in page
    assert "from scratch" in page
    assert "<img" in page  # the stored figures are rendered


def test_every_chapter_page_has_a_colab_launch_button(site):
    for name in toc_files():
        if (ROOT / f"{name}.ipynb").is_file():
            page = (site / f"{name}.html").read_text()
            assert "colab.research.google.com/github/" in page, name
