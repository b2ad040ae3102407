"""The site builds from the stored outputs, with warnings as errors."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def site(tmp_path_factory):
    """Build the site once (no execution) and return the folder of its HTML."""
    output = tmp_path_factory.mktemp("site")
    jupyter_book = Path(sys.executable).parent / "jupyter-book"
    result = subprocess.run(
        [str(jupyter_book), "build", str(ROOT), "--path-output", str(output),
         "-W", "-n", "--keep-going"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    return output / "_build" / "html"


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
