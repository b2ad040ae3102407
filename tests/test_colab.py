"""A chapter opened on its own, as on Colab, sets itself up and runs to the end.

The slow test rebuilds what a student who clicks "open in Colab" has: a new
virtual environment with only ``requirements.txt``, one chapter notebook alone in
an empty folder, and the repository at a local ``file://`` address in place of
the network one (``BOOK_REPOSITORY``). Git is allowed the ``file`` transport
only, so a clone from the network URL would fail the test instead of reaching
out. The fast tests run the set-up cell's Colab branch with a stand-in
``google.colab`` module.

Environment variables for a developer (CI needs none of them):

- ``BOOK_COLAB_CHAPTER``: the notebook to run. The default, ``01_concepts.ipynb``,
  is the shortest chapter that loads the shipped data, so the test proves the
  set-up within minutes; chapter 4 works too but takes about 20 minutes here.
- ``BOOK_TEST_VENV``: a folder in which to keep the fresh venv between runs; it
  is rebuilt when ``requirements.txt`` changes. Unset, a new one is made.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Iterator

import nbformat
import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import notebook_kit  # noqa: E402

CHAPTER = os.environ.get("BOOK_COLAB_CHAPTER", "01_concepts.ipynb")
CLONE_NAME = "loss-functions-for-fine-tuning"  # the folder the set-up cell clones into
CHECK_MARK = "BOOK-COLAB-CHECK "
GIT_IDENTITY = ["-c", "user.name=book tests", "-c", "user.email=tests@localhost",
                "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main"]

# Run inside the fresh venv: execute the notebook where it lies, as Jupyter
# would, and save it with its outputs so the test can read them.
EXECUTE_NOTEBOOK = textwrap.dedent("""\
    import sys
    from pathlib import Path
    import nbformat
    from nbclient import NotebookClient
    path = Path(sys.argv[1])
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(notebook, timeout=1800, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    finally:
        nbformat.write(notebook, path)
""")


def test_the_setup_cell_clones_the_repository_named_in_config():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())
    assert config["repository"]["url"] == notebook_kit.REPOSITORY_URL, (
        "_config.yml repository.url and notebook_kit.REPOSITORY_URL differ: the "
        "launch buttons and the set-up cell must point at the same repository.")
    assert config["launch_buttons"]["colab_url"].startswith("https://colab.")
    assert f'"{notebook_kit.REPOSITORY_URL}"' in notebook_kit.SETUP_CELL
    assert f'root = here / "{CLONE_NAME}"' in notebook_kit.SETUP_CELL


# The Colab branch, without Colab: a stand-in google.colab module, and
# torch.cuda.is_available forced to the case under test.
COLAB_PRELUDE = """\
import sys, types
sys.modules["google.colab"] = types.ModuleType("google.colab")
import torch
torch.cuda.is_available = lambda: {cuda}
"""
REPORT = '\nimport json\nprint(json.dumps({"mode": os.environ.get("BOOK_MODE"), ' \
         '"root": str(root), "path0": sys.path[0]}))'


def run_setup_cell(folder: Path, prelude: str = "", mode: str | None = None) -> dict:
    """Run the set-up cell as a script in ``folder``; return what it decided."""
    env = {key: value for key, value in os.environ.items() if key != "BOOK_MODE"}
    if mode:
        env["BOOK_MODE"] = mode
    env["GIT_ALLOW_PROTOCOL"] = "file"  # no clone may reach the network
    result = subprocess.run([sys.executable, "-c", prelude + notebook_kit.SETUP_CELL
                             + REPORT], cwd=folder, env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("cuda, preset, expected", [
    (True, None, "full"), (False, None, "quick"), (True, "quick", "quick")],
    ids=["gpu-full", "cpu-quick", "reader-choice-kept"])
def test_on_colab_the_cell_picks_the_mode_from_the_gpu(tmp_path, cuda, preset,
                                                        expected):
    (tmp_path / CLONE_NAME / "utils").mkdir(parents=True)  # as if cloned already
    decided = run_setup_cell(tmp_path, COLAB_PRELUDE.format(cuda=cuda), preset)
    assert decided["mode"] == expected
    assert decided["path0"] == str(tmp_path / CLONE_NAME)


def test_inside_the_repository_the_cell_only_sets_the_import_path():
    decided = run_setup_cell(ROOT / "book")
    assert decided == {"mode": None, "root": str(ROOT), "path0": str(ROOT)}
    assert not (ROOT / "book" / CLONE_NAME).exists()  # nothing was cloned


def git(*arguments: str, cwd: Path | None = None) -> str:
    """Run git and return what it printed; fail the test with git's own message."""
    result = subprocess.run(["git", *arguments], cwd=cwd, capture_output=True,
                            text=True)
    assert result.returncode == 0, f"git {' '.join(arguments)}: {result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def repository(tmp_path_factory) -> Path:
    """A git repository holding the working tree as it would be committed.

    Tracked and untracked files, less what .gitignore excludes: the state the
    next commit will have, so that the notebook and ``utils`` agree even before
    the lead commits. On a clean clone (CI) it equals HEAD.
    """
    snapshot = tmp_path_factory.mktemp("repository")
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard",
                 cwd=ROOT).split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the work tree is left out
            (snapshot / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, snapshot / name)
    git(*GIT_IDENTITY, "init", "-q", cwd=snapshot)
    git("add", "-A", cwd=snapshot)
    git(*GIT_IDENTITY, "commit", "-q", "-m", "snapshot for the Colab test",
        cwd=snapshot)
    return snapshot


@pytest.fixture(scope="module")
def fresh_python(tmp_path_factory) -> Iterator[Path]:
    """The python of a new venv holding only requirements.txt, as a student has."""
    requirements = ROOT / "requirements.txt"
    stamp = hashlib.sha256(requirements.read_bytes()).hexdigest()
    kept = os.environ.get("BOOK_TEST_VENV")
    venv = Path(kept) if kept else tmp_path_factory.mktemp("fresh") / "venv"
    python = venv / "bin" / "python"
    marker = venv / ".requirements-sha256"
    if kept and marker.is_file() and marker.read_text() == stamp:
        yield python
        return
    shutil.rmtree(venv, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    result = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "-r", str(requirements)], capture_output=True, text=True)
    assert result.returncode == 0, (
        "pip could not install requirements.txt into a new venv:\n"
        + result.stderr[-4000:])
    marker.write_text(stamp)
    print(f"fresh venv installed in {time.perf_counter() - started:.0f} s")
    yield python
    if not kept:  # several GB (torch): pytest would keep three runs of it in /tmp
        shutil.rmtree(venv, ignore_errors=True)


def student_environment(fresh_python: Path, repository_url: str,
                        cache: Path) -> dict:
    """Environment of the kernel: the fresh venv first, the local repository URL."""
    env = {key: value for key, value in os.environ.items()
           if key not in ("VIRTUAL_ENV", "PYTHONPATH", "BOOK_CACHE_DIR")}
    env.update(
        PATH=f"{fresh_python.parent}{os.pathsep}{env.get('PATH', '')}",
        BOOK_MODE="quick", BOOK_PROGRESS="off", MPLBACKEND="Agg",
        BOOK_REPOSITORY=repository_url, BOOK_CACHE_DIR=str(cache),
        GIT_ALLOW_PROTOCOL="file",  # the network URL would fail, not connect
        JUPYTER_PLATFORM_DIRS="1")
    return env


@pytest.mark.slow
def test_a_chapter_alone_in_a_fresh_venv_runs_to_the_end(tmp_path, repository,
                                                         fresh_python):
    student = tmp_path / "student"
    student.mkdir()
    notebook_path = student / CHAPTER
    notebook = nbformat.read(repository / "book" / CHAPTER, as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(
        "import json, os, sys, utils\n"
        f"print({CHECK_MARK!r} + json.dumps({{'python': sys.executable,\n"
        "    'utils': utils.__file__, 'mode': os.environ.get('BOOK_MODE')}))"))
    nbformat.write(notebook, notebook_path)
    repository_url = repository.as_uri()  # file://: git honours --depth only then
    env = student_environment(fresh_python, repository_url, tmp_path / "cache")

    started = time.perf_counter()
    result = subprocess.run([str(fresh_python), "-c", EXECUTE_NOTEBOOK,
                             str(notebook_path)], cwd=student, env=env,
                            capture_output=True, text=True, timeout=2400)
    seconds = time.perf_counter() - started
    assert result.returncode == 0, (
        f"{CHAPTER} failed in the fresh venv:\n{result.stderr[-6000:]}")
    print(f"{CHAPTER} ran alone in a fresh venv in {seconds:.0f} s")

    executed = nbformat.read(notebook_path, as_version=4)
    errors = [output for cell in executed.cells for output in cell.get("outputs", [])
              if output["output_type"] == "error"]
    assert not errors, errors
    setup = next(cell for cell in executed.cells if cell.cell_type == "code")
    assert setup.source == notebook_kit.SETUP_CELL
    assert not setup.outputs, f"the set-up cell printed: {setup.outputs}"
    check = "".join(output.get("text", "") for output in executed.cells[-1].outputs)
    assert CHECK_MARK in check, "the notebook did not run to its last cell"
    ran = json.loads(check.split(CHECK_MARK, 1)[1])
    clone = student / CLONE_NAME
    assert ran["python"].startswith(str(fresh_python.parent.parent))
    assert Path(ran["utils"]).resolve() == (clone / "utils" / "__init__.py").resolve()
    assert ran["mode"] == "quick"

    # The clone lies beside the notebook, came from the local URL, and is shallow.
    assert (clone / "utils" / "losses.py").is_file()
    assert (clone / "data" / "cifar10-jpg.tar.gz").is_file()
    assert git("remote", "get-url", "origin", cwd=clone).strip() == repository_url
    assert git("rev-parse", "--is-shallow-repository", cwd=clone).strip() == "true"
    # The decoded data went to BOOK_CACHE_DIR, not into the clone.
    assert any((tmp_path / "cache").iterdir())
    assert not (clone / ".cache").exists()
