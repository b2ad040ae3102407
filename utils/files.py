"""Where the book keeps what it computes, and how it writes files safely.

Every file the book writes goes through :func:`atomic_write`, so a run that is
killed halfway leaves the previous good file in place, never half a file.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

ROOT = Path(__file__).resolve().parent.parent
CACHE_VARIABLE = "BOOK_CACHE_DIR"


def cache_dir() -> Path:
    """Return a writable folder for decoded data, checkpoints and results.

    ``BOOK_CACHE_DIR`` wins when set; otherwise ``.cache`` in the repository,
    or ``~/.cache/loss-functions-book`` when the repository is read-only.
    """
    candidates = []
    if os.environ.get(CACHE_VARIABLE):
        candidates.append(Path(os.environ[CACHE_VARIABLE]).expanduser())
    else:
        candidates.append(ROOT / ".cache")
        candidates.append(Path.home() / ".cache" / "loss-functions-book")
    for folder in candidates:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK):
            return folder
    tried = ", ".join(str(folder) for folder in candidates)
    raise PermissionError(
        f"No writable cache folder (tried {tried}). "
        f"Set {CACHE_VARIABLE} to a folder you can write to."
    )


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` on success.

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
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)
