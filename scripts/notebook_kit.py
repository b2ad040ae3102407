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

here = Path.cwd().resolve()
root = next((p for p in (here, *here.parents) if (p / "utils" / "losses.py").is_file()),
            None)
if root is None:
    root = here / "loss-functions-for-fine-tuning"
    if not root.exists():
        url = os.environ.get("BOOK_REPOSITORY", "{REPOSITORY_URL}")
        subprocess.run(["git", "clone", "--depth", "1", url, str(root)], check=True)
    if "google.colab" in sys.modules:  # keep Colab's torch; use its GPU if any
        import torch
        os.environ.setdefault("BOOK_MODE", "full" if torch.cuda.is_available() else "quick")
sys.path.insert(0, str(root))'''


def new_notebook(cells: list[tuple[str, str]]) -> nbformat.NotebookNode:
    """Return a notebook from ``(kind, source)`` pairs; kind is md, code or setup.

    A code source whose first line is ``#| tags: a, b`` gets those cell tags.
    """
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                       "language": "python"}
    notebook.metadata["language_info"] = {"name": "python"}
    for kind, source in cells:
        if kind == "md":
            notebook.cells.append(nbformat.v4.new_markdown_cell(source.strip("\n")))
            continue
        tags = []
        if kind == "setup":
            source, tags = SETUP_CELL, ["hide-cell", "setup"]
        elif source.startswith("#| tags:"):
            first, _, source = source.partition("\n")
            tags = [tag.strip() for tag in first[len("#| tags:"):].split(",")]
        cell = nbformat.v4.new_code_cell(source.strip("\n"))
        if tags:
            cell.metadata["tags"] = tags
        notebook.cells.append(cell)
    return notebook
