"""House style that a reader notices: line widths and the shape of each chapter."""

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(
    path for folder in ("utils", "tests", "scripts", "bench")
    for path in (ROOT / folder).rglob("*.py")
)
CHAPTERS = sorted((ROOT / "book").glob("0*.ipynb"))
NOTEBOOKS = sorted((ROOT / "book").glob("*.ipynb"))


def _code_cells(path):
    notebook = json.loads(path.read_text())
    return [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_lines_are_at_most_88_characters(path):
    wide = [number for number, line in enumerate(path.read_text().splitlines(), 1)
            if len(line) > 88]
    assert not wide, f"{path.name}: lines {wide} are wider than 88 characters"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_code_lines_are_at_most_88_characters(path):
    for cell in _code_cells(path):
        for line in "".join(cell["source"]).splitlines():
            assert len(line) <= 88 or line.startswith("#| "), line


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_chapter_ends_with_summary_and_exercises(path):
    notebook = json.loads(path.read_text())
    text = "\n".join("".join(cell["source"]) for cell in notebook["cells"]
                     if cell["cell_type"] == "markdown")
    assert "## Summary" in text and "## Exercises" in text
    assert text.index("## Summary") < text.index("## Exercises")
    assert "You will learn" in text


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_cell_that_draws_a_figure_gives_alt_text_and_caption(path):
    for cell in _code_cells(path):
        draws = any("image/png" in output.get("data", {})
                    for output in cell.get("outputs", []))
        if draws:
            figure = cell["metadata"].get("mystnb", {})
            assert figure.get("image", {}).get("alt"), "".join(cell["source"])[:120]
            assert figure.get("figure", {}).get("caption"), cell["source"][:3]
