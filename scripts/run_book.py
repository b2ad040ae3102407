"""Execute every chapter in the chosen run mode, then build the site.

    python scripts/run_book.py            # run in a copy, build _build/html
    python scripts/run_book.py --store    # write the fresh outputs into book/

Without ``--store`` no tracked file changes: the sources are copied to
``_build/source`` and executed there. The mode comes from ``BOOK_MODE``.
Each chapter's time is written to ``_build/chapter-times-<mode>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import yaml
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from utils.config import run_mode, settings  # noqa: E402
from utils.experiments import environment  # noqa: E402

SITE_FILES = ("_config.yml", "_toc.yml")


def chapters(source: Path) -> list[Path]:
    """Return the notebooks named in ``_toc.yml``, in reading order."""
    toc = yaml.safe_load((source / "_toc.yml").read_text())
    files = [entry["file"] for entry in toc.get("chapters", [])]
    for part in toc.get("parts", []):
        files += [entry["file"] for entry in part.get("chapters", [])]
    return [source / f"{name}.ipynb" for name in files
            if (source / f"{name}.ipynb").is_file()]


def execute(notebook_path: Path, timeout: int) -> float:
    """Execute one notebook in place, in its own folder; return the seconds taken."""
    notebook = nbformat.read(notebook_path, as_version=4)
    started = time.perf_counter()
    client = NotebookClient(notebook, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(notebook_path.parent)}})
    client.execute()
    seconds = time.perf_counter() - started
    notebook.metadata["book_run"] = {**environment(settings()),
                                     "seconds": round(seconds, 1)}
    nbformat.write(notebook, notebook_path)
    return seconds


def record_time(times_path: Path, name: str, seconds: float) -> None:
    """Add one chapter's time to ``times_path``, keeping the other chapters' times."""
    known = {}
    if times_path.is_file():
        known = json.loads(times_path.read_text())["chapters"]
    record = {**environment(settings()), "chapters": {**known, name: seconds}}
    times_path.parent.mkdir(exist_ok=True)
    times_path.write_text(json.dumps(record, indent=1))


def build_site(source: Path) -> None:
    """Build the HTML site from ``source`` into ``_build/html``, warnings as errors."""
    command = [str(Path(sys.executable).parent / "jupyter-book"), "build", str(source),
               "--path-output", str(ROOT), "-W", "-n", "--keep-going"]
    subprocess.run(command, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", action="store_true",
                        help="execute the notebooks in book/ itself")
    parser.add_argument("--only", nargs="*", default=None,
                        help="chapter file names to run (default: all)")
    parser.add_argument("--timeout", type=int, default=3600,
                        help="seconds allowed for one cell")
    parser.add_argument("--no-site", action="store_true", help="skip the site build")
    options = parser.parse_args()
    mode = run_mode()
    os.environ["BOOK_PROGRESS"] = "off"  # stored outputs keep the epoch lines only
    if options.store:
        source = ROOT
    else:
        source = ROOT / "_build" / "source"
        shutil.rmtree(source, ignore_errors=True)
        shutil.copytree(ROOT / "book", source / "book")
        for name in SITE_FILES:
            shutil.copy(ROOT / name, source / name)
    times_path = ROOT / "_build" / f"chapter-times-{mode}.json"
    for notebook in chapters(source):
        if options.only and notebook.name not in options.only:
            continue
        print(f"Running {notebook.name} in {mode} mode...", flush=True)
        seconds = round(execute(notebook, options.timeout), 1)
        print(f"  done in {seconds:.0f} s", flush=True)
        record_time(times_path, notebook.name, seconds)
    if not options.no_site:
        build_site(source)
        print(f"Site built: {ROOT / '_build' / 'html' / 'index.html'}")


if __name__ == "__main__":
    main()
