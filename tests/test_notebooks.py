"""House rules of the chapter notebooks, checked on their stored form."""

import json
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from notebook_kit import SETUP_CELL  # noqa: E402

TOC = yaml.safe_load((ROOT / "_toc.yml").read_text())
NOTEBOOKS = sorted(path for path in (ROOT / "book").glob("*.ipynb"))


def test_every_notebook_is_in_the_table_of_contents():
    listed = {entry["file"] for entry in TOC["chapters"]}
    for path in NOTEBOOKS:
        assert f"book/{path.stem}" in listed, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_first_code_cell_is_the_shared_setup_cell(path):
    notebook = json.loads(path.read_text())
    code = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    assert "".join(code[0]["source"]) == SETUP_CELL


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_stored_outputs_come_from_a_recorded_run_without_errors(path):
    notebook = json.loads(path.read_text())
    run = notebook["metadata"].get("book_run")
    assert run and run["mode"] in ("quick", "full") and run["hardware"]
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            assert output["output_type"] != "error", path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_code_cell_ran_in_the_stored_run_in_order(path):
    # A cell added or edited after the stored run has no execution count.
    notebook = json.loads(path.read_text())
    counts = [cell["execution_count"] for cell in notebook["cells"]
              if cell["cell_type"] == "code"]
    assert counts == list(range(1, len(counts) + 1)), path.name


def test_all_notebooks_are_stored_from_one_mode():
    modes = {json.loads(path.read_text())["metadata"]["book_run"]["mode"]
             for path in NOTEBOOKS}
    assert len(modes) == 1, modes


def test_the_introduction_states_the_sizes_that_utils_config_uses():
    from utils.config import FULL, QUICK

    intro = (ROOT / "book" / "intro.md").read_text()
    assert f"{QUICK.pretrain_per_class:,} per pretraining class" in intro
    assert f"{QUICK.finetune_per_class:,} per fine-tuning class" in intro
    assert FULL.finetune_per_class * 2 == 5000 and "half of the 25,000" in intro
    number_words = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five"}
    assert f"{number_words[len(FULL.seeds)]} seeds" in intro
