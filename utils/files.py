"""Where the book keeps what it computes, and how it writes files safely.

Every file the book writes goes through :func:`atomic_write`, so a run that is
killed halfway leaves the previous good file in place, never half a file.
Caches go to ``BOOK_CACHE_DIR`` when it is set, else to ``.cache`` in the
repository, else (a read-only checkout) to ``~/.cache/loss-functions-book``.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import warnings
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
CACHE_VARIABLE = "BOOK_CACHE_DIR"
HOME_CACHE_NAME = "loss-functions-book"
_ANNOUNCED: set[Path] = set()  # fallback folders already named to the reader


def _write_problem(folder: Path) -> str | None:
    """Return why files cannot be written in ``folder`` (``None`` if they can).

    A real test write, because ``os.access`` answers yes to root even where a
    write will fail, and knows nothing of a folder that cannot be created.
    """
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-test-"):
            pass
    except OSError as error:
        return error.strerror or type(error).__name__
    return None


def cache_dir() -> Path:
    """Return a writable folder for decoded data, checkpoints and results.

    ``BOOK_CACHE_DIR`` wins when set; otherwise ``.cache`` in the repository,
    or ``~/.cache/loss-functions-book`` when the repository is read-only (a
    warning names that folder the first time it is used).

    Returns:
        The folder, created if needed.
    """
    if os.environ.get(CACHE_VARIABLE):
        candidates = [Path(os.environ[CACHE_VARIABLE]).expanduser()]
    else:
        candidates = [ROOT / ".cache", Path.home() / ".cache" / HOME_CACHE_NAME]
    problems = []
    for folder in candidates:
        problem = _write_problem(folder)
        if problem is None:
            if problems and folder not in _ANNOUNCED:
                _ANNOUNCED.add(folder)
                warnings.warn(
                    f"Cannot write to {candidates[0]} ({problems[0]}), so caches go "
                    f"to {folder}. Set {CACHE_VARIABLE} to choose another folder.",
                    stacklevel=2,
                )
            return folder
        problems.append(problem)
    tried = "; ".join(f"{folder} ({problem})"
                      for folder, problem in zip(candidates, problems))
    raise PermissionError(
        f"No writable cache folder: tried {tried}. "
        f"Set {CACHE_VARIABLE} to a folder you can write to."
    )


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

    If the block raises (or the process is stopped), ``path`` keeps its previous
    content. An exception removes the temporary file; a process killed outright
    leaves it behind as a hidden ``.NAME.*`` file beside ``path``.

    Args:
        path: the file to write.

    Yields:
        A temporary file name in the same folder; write the content there.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(handle)
    try:
        yield Path(temporary)
        # On disk before the rename, so a power cut cannot leave an empty file
        # under the good name.
        with open(temporary, "rb+") as written:
            os.fsync(written.fileno())
        # mkstemp makes the file private (0600); give it the usual permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temporary, 0o666 & ~umask)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
