"""Tools for writing and checking the book's notebooks.

``SETUP_CELL`` is the first code cell of every chapter: on Colab (or wherever a
chapter is opened on its own) it fetches the repository, then it makes the
``utils`` package importable. The tests check that every chapter carries it
unchanged. ``new_notebook`` builds a chapter from (kind, text) pairs.
"""

from __future__ import annotations

import nbformat

REPOSITORY_URL = "https://github.com/loss-functions-book/loss-functions-for-fine-tuning"

SETUP_CELL = f'''\
# Set-up: make the book's `utils` importable. Opened on its own (as on Colab),
# the chapter first fetches the repository, with its data, into this folder.
import os, subprocess, sys
from pathlib import Path

REPOSITORY = "{REPOSITORY_URL}"

here = Path.cwd().resolve()
root = next((p for p in (here, *here.parents) if (p / "utils" / "losses.py").is_file()),
            None)
if root is None:
    root = here / "loss-functions-for-fine-tuning"
    url = os.environ.get("BOOK_REPOSITORY", REPOSITORY)
    if not root.exists():
        subprocess.run(["git", "clone", "--depth", "1", url, str(root)], check=True)
    if "google.colab" in sys.modules:  # keep Colab's torch; use its GPU if any
        import torch
        mode = "full" if torch.cuda.is_available() else "quick"
        os.environ.setdefault("BOOK_MODE", mode)
sys.path.insert(0, str(root))'''


def sync_setup_cells(paths) -> list[str]:
    """Replace the first code cell of each notebook with ``SETUP_CELL``.

    Returns:
        The names of the notebooks that changed.
    """
    changed = []
    for path in paths:
        notebook = nbformat.read(path, as_version=4)
        first = next(cell for cell in notebook.cells if cell.cell_type == "code")
        if first.source != SETUP_CELL:
            first.source = SETUP_CELL
            nbformat.write(notebook, path)
            changed.append(str(path))
    return changed


def new_notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """Return a notebook from ``(kind, source)`` pairs; kind is md, code or setup.

    A code source may start with directive lines: ``#| tags: a, b`` sets cell
    tags; ``#| alt: ...`` and ``#| caption: ...`` give the figure the cell draws
    its alt text and caption on the site (myst-nb metadata).
    """
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    for kind, source in cells:
        if kind == "md":
            notebook.cells.append(nbformat.v4.new_markdown_cell(source.strip("\n")))
            continue
        tags, figure = [], {}
        source = source.strip("\n")
        if kind == "setup":
            source, tags = SETUP_CELL, ["hide-cell", "setup"]
        while source.startswith("#| "):
            first, _, source = source.partition("\n")
            key, _, value = first[3:].partition(":")
            if key == "tags":
                tags = [tag.strip() for tag in value.split(",")]
            else:
                figure[key.strip()] = value.strip()
        cell = nbformat.v4.new_code_cell(source.strip("\n"))
        if tags:
            cell.metadata["tags"] = tags
        if figure:
            cell.metadata["mystnb"] = {
                "image": {"alt": figure.get("alt", "")},
                "figure": {"caption": figure.get("caption", "")},
            }
        notebook.cells.append(cell)
    return notebook


if __name__ == "__main__":
    import sys
    from pathlib import Path

    book = Path(__file__).resolve().parent.parent / "book"
    if sys.argv[1:] == ["--sync"]:
        print("\n".join(sync_setup_cells(sorted(book.glob("*.ipynb")))) or "in sync")
    else:
        print("usage: python scripts/notebook_kit.py --sync")
