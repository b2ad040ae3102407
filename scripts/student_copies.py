"""Write student copies of the chapter notebooks: solutions removed, outputs cleared.

    .venv/bin/python scripts/student_copies.py              # every chapter
    .venv/bin/python scripts/student_copies.py --only 04_cifar10.ipynb

The copies go to ``student/`` (ignored by git). What is removed:

- sphinx-exercise solution blocks in markdown cells, fenced with backticks or
  colons (```` ```{solution} label ```` ... ```` ``` ````), nested fences included;
- gated solutions, from a ``{solution-start}`` cell to its ``{solution-end}``
  cell, with every cell between them (their code too);
- code cells tagged ``solution``.

Every output, execution count and run record is cleared, so a student runs each
cell for the first time. The exercises, the set-up cell and the rest stay.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parent.parent
NOT_FOR_STUDENTS = {"teachers.ipynb"}  # pages for the teacher, not chapters
OPENING = re.compile(r"^[ \t]{0,3}(?P<fence>`{3,}|:{3,})\{(?P<name>[\w-]+)\}")
SOLUTION_NAMES = {"solution", "solution-start", "solution-end"}


class SolutionFormatError(ValueError):
    """A solution block whose end cannot be found, or one left in a copy."""


def strip_solutions(markdown: str, gated: bool = False) -> tuple[str, bool]:
    """Remove the solution blocks of one markdown cell.

    Args:
        markdown: the cell's source.
        gated: True when an earlier cell opened a ``{solution-start}`` gate
            that has not ended yet: lines are dropped until ``{solution-end}``.

    Returns:
        The source without its solutions, and whether a gate is still open.
    """
    kept, lines, index = [], markdown.splitlines(), 0
    while index < len(lines):
        opening = OPENING.match(lines[index])
        if not opening or opening["name"] not in SOLUTION_NAMES:
            if not gated:
                kept.append(lines[index])
            index += 1
            continue
        fence, name = opening["fence"], opening["name"]
        gated = {"solution-start": True, "solution-end": False}.get(name, gated)
        # A fence closes on a line of the same character, at least as long.
        index += 1
        while index < len(lines):
            line = lines[index].strip()
            index += 1
            if line and set(line) == {fence[0]} and len(line) >= len(fence):
                break
        else:
            raise SolutionFormatError(
                f"a {{{name}}} block opened with {fence} is never closed; "
                f"close it with a line of {fence} and run the script again.")
    if len(kept) == len(lines):
        return markdown, gated
    # Where a block was cut out, its surrounding blank lines would pile up.
    return re.sub(r"\n{3,}", "\n\n", "\n".join(kept)).strip("\n"), gated


def student_notebook(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return a copy of ``notebook`` without solutions and without outputs."""
    copy = nbformat.from_dict(notebook)
    cells, gated = [], False
    for cell in copy.cells:
        if cell.cell_type == "markdown":
            cell.source, gated_after = strip_solutions(cell.source, gated)
            gated, keep = gated_after, bool(cell.source.strip())
        else:
            keep = not gated and "solution" not in cell.metadata.get("tags", [])
        if not keep:
            continue
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
            cell.metadata.pop("execution", None)
        cells.append(cell)
    if gated:
        raise SolutionFormatError(
            "a {solution-start} has no {solution-end}; add the end directive.")
    copy.cells = cells
    copy.metadata.pop("book_run", None)
    return copy


def check_no_solution_left(notebook: nbformat.NotebookNode, name: str) -> None:
    """Raise if any trace of a solution directive is left in a student copy."""
    for number, cell in enumerate(notebook.cells):
        if "{solution" in cell.source:
            raise SolutionFormatError(
                f"{name}, cell {number}: a solution is written in a form this script "
                "does not recognise; use a fenced ```{solution} block.")


def write_student_copies(source: Path, output: Path,
                         only: list[str] | None = None) -> list[Path]:
    """Write a student copy of each notebook of ``source`` into ``output``.

    Args:
        source: the folder of the chapter notebooks (``book/``).
        output: where the copies go; created if missing.
        only: file names to copy (default: every chapter notebook).

    Returns:
        The paths written, in name order.
    """
    paths = sorted(path for path in source.glob("*.ipynb")
                   if path.name not in NOT_FOR_STUDENTS)
    if only:
        missing = set(only) - {path.name for path in paths}
        if missing:
            raise FileNotFoundError(
                f"no chapter notebook named {', '.join(sorted(missing))} in {source}; "
                "give file names such as 04_cifar10.ipynb.")
        paths = [path for path in paths if path.name in only]
    output.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        copy = student_notebook(nbformat.read(path, as_version=4))
        check_no_solution_left(copy, path.name)
        nbformat.validate(copy)
        nbformat.write(copy, output / path.name)
        written.append(output / path.name)
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=ROOT / "book",
                        help="folder of the chapter notebooks (default: book/)")
    parser.add_argument("--output", type=Path, default=ROOT / "student",
                        help="folder for the copies (default: student/)")
    parser.add_argument("--only", nargs="*", default=None,
                        help="notebook file names to copy (default: all chapters)")
    options = parser.parse_args()
    try:
        written = write_student_copies(options.source, options.output, options.only)
    except (SolutionFormatError, FileNotFoundError) as error:
        sys.exit(f"student_copies: {error}")
    for path in written:
        print(f"wrote {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
    print(f"{len(written)} student copies, solutions removed and outputs cleared.")


if __name__ == "__main__":
    main()
