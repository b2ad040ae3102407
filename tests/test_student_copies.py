"""Student copies: solutions gone, exercises and the set-up cell kept, no outputs."""

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from notebook_kit import SETUP_CELL, new_notebook  # noqa: E402
from student_copies import (  # noqa: E402
    NOT_FOR_STUDENTS,
    SolutionFormatError,
    student_notebook,
    write_student_copies,
)

EXERCISES = '''\
## Exercises

```{exercise} Change the loss
:label: ex-loss

Replace cross-entropy with focal loss.
```

```{solution} ex-loss
:class: dropdown

Use `FocalLoss(gamma=2)`; the answer is 42.
```

:::{exercise}
:label: ex-colon
Count the classes.
:::

:::{solution} ex-colon
:class: dropdown
There are five.
:::

````{exercise}
:label: ex-nested
Write the loop.
````

````{solution} ex-nested
:class: dropdown
```python
for epoch in range(3):
    print("secret loop")
```
````

The end of the exercises.'''


def synthetic_notebook() -> nbformat.NotebookNode:
    """A small chapter with every form of solution the script must remove."""
    notebook = new_notebook([
        ("md", "# A chapter"),
        ("setup", ""),
        ("code", "print('kept')"),
        ("md", EXERCISES),
        ("md", "```{solution-start} ex-loss\n:class: dropdown\n```\nGated secret."),
        ("code", "print('gated secret code')"),
        ("md", "```{solution-end}\n```\nAfter the gate."),
        ("code", "#| tags: solution\nprint('tagged secret')"),
        ("md", "```{solution} ex-colon\n```"),
    ])
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = [nbformat.v4.new_output("stream", text="old output\n")]
            cell.execution_count = 7
    notebook.metadata["book_run"] = {"mode": "quick", "seconds": 1.0}
    return notebook


def all_text(notebook: nbformat.NotebookNode) -> str:
    return "\n".join(cell.source for cell in notebook.cells)


def test_every_form_of_solution_is_removed_and_the_rest_kept():
    copy = student_notebook(synthetic_notebook())
    text = all_text(copy)
    for secret in ("{solution", "42", "There are five", "secret", "Gated"):
        assert secret not in text, secret
    for kept in ("# A chapter", "print('kept')", "{exercise} Change the loss",
                 ":::{exercise}", "````{exercise}", "Write the loop.",
                 "The end of the exercises.", "After the gate."):
        assert kept in text, kept
    code = [cell for cell in copy.cells if cell.cell_type == "code"]
    assert code[0].source == SETUP_CELL
    assert [cell.source for cell in code[1:]] == ["print('kept')"]
    assert all(cell.outputs == [] and cell.execution_count is None for cell in code)
    assert "book_run" not in copy.metadata
    assert all(cell.source.strip() for cell in copy.cells)  # no empty cells left
    nbformat.validate(copy)


def test_the_original_notebook_is_left_unchanged():
    original = synthetic_notebook()
    before = nbformat.writes(original)
    student_notebook(original)
    assert nbformat.writes(original) == before


@pytest.mark.parametrize("source, message", [
    ("```{solution} ex\nnever closed", "never closed"),
    ("```{solution-start} ex\n```\nno end", "no {solution-end}"),
])
def test_a_malformed_solution_is_an_error_not_a_leak(source, message):
    notebook = new_notebook([("md", source)])
    with pytest.raises(SolutionFormatError, match=message):
        student_notebook(notebook)


def test_a_solution_in_an_unknown_form_stops_the_script(tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    notebook = new_notebook([("md", "Inline {solution}`ex` is not a block.")])
    nbformat.write(notebook, book / "01_odd.ipynb")
    with pytest.raises(SolutionFormatError, match="01_odd.ipynb, cell 0"):
        write_student_copies(book, tmp_path / "student")


CHAPTERS = sorted(path for path in (ROOT / "book").glob("*.ipynb")
                  if path.name not in NOT_FOR_STUDENTS)


def test_student_copies_of_the_real_chapters(tmp_path):
    written = write_student_copies(ROOT / "book", tmp_path)
    assert [path.name for path in written] == [path.name for path in CHAPTERS]
    for original_path, copy_path in zip(CHAPTERS, written):
        original = nbformat.read(original_path, as_version=4)
        copy = nbformat.read(copy_path, as_version=4)
        assert "{solution" not in all_text(copy), copy_path.name
        assert all_text(copy).count("{exercise}") == all_text(original).count(
            "{exercise}"), copy_path.name
        code = [cell for cell in copy.cells if cell.cell_type == "code"]
        first = next(cell for cell in original.cells if cell.cell_type == "code")
        # The set-up cell stays as it is (tests/test_notebooks.py checks its text).
        assert code[0].source == first.source, copy_path.name
        assert "BOOK_REPOSITORY" in code[0].source, copy_path.name
        assert not any(cell.outputs for cell in code), copy_path.name


def test_the_command_writes_the_copies_and_names_a_wrong_chapter(tmp_path):
    script = str(ROOT / "scripts" / "student_copies.py")
    result = subprocess.run(
        [sys.executable, script, "--output", str(tmp_path), "--only", CHAPTERS[0].name],
        capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / CHAPTERS[0].name).is_file()
    assert "1 student copies" in result.stdout
    result = subprocess.run(
        [sys.executable, script, "--output", str(tmp_path),
         "--only", "99_missing.ipynb"],
        capture_output=True, text=True)
    assert result.returncode != 0 and "99_missing.ipynb" in result.stderr
