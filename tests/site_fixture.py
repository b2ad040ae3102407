"""The book's site, built once per test session and shared by the site tests.

tests/test_site.py (the build and its pages) and tests/test_browser.py (the
pages in a real browser) both use :func:`built_site`. The build is cached in
this module, not in a pytest fixture, because a session fixture imported into
two test modules would be set up once for each of them.

Set ``BOOK_TEST_SITE`` to a folder of HTML already built (for example
``_build/html`` after ``make book``) to check that site instead of building one.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SITE_VARIABLE = "BOOK_TEST_SITE"
_BUILT: dict = {}  # "html": the folder; "error": why the build failed


def built_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Build the site once (no execution, warnings as errors); return its HTML."""
    if os.environ.get(SITE_VARIABLE):
        html = Path(os.environ[SITE_VARIABLE]).resolve()
        if not (html / "index.html").is_file():
            raise FileNotFoundError(
                f"{SITE_VARIABLE}={html} holds no index.html; point it at a built "
                "site's html folder, or unset it to build one."
            )
        return html
    if not _BUILT:
        output = tmp_path_factory.mktemp("site")
        jupyter_book = Path(sys.executable).parent / "jupyter-book"
        result = subprocess.run(
            [str(jupyter_book), "build", str(ROOT), "--path-output", str(output),
             "-W", "-n", "--keep-going"], capture_output=True, text=True)
        _BUILT["html"] = output / "_build" / "html"
        if result.returncode != 0:
            # Kept, so that the second module to ask fails at once, not after
            # another minute of building.
            _BUILT["error"] = (
                "The site build failed (warnings count as errors):\n"
                + result.stdout[-4000:] + result.stderr[-4000:]
            )
    if "error" in _BUILT:
        pytest.fail(_BUILT["error"], pytrace=False)
    return _BUILT["html"]
