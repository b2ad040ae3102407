"""Files the book writes: a writable cache anywhere, and nothing lost to a kill."""

import io
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from torch import nn

import utils.files
from utils.config import settings
from utils.experiments import cached
from utils.files import ROOT, atomic_write, cache_dir
from utils.training import load_checkpoint, save_checkpoint


class SimulatedKill(BaseException):
    """Raised halfway through a write, like a Ctrl-C in the middle of a save."""


def make_unwritable(folder):
    """Make ``folder`` a place no file can be written to, even by root.

    Tests run as root in CI, and root writes through ``chmod``; a read-only
    mount needs privileges a test does not have. A plain file where the folder
    should be stops everyone for real: ``mkdir`` fails, and so does a write.
    For any other user the folder is made read-only instead, which is exactly
    what a read-only checkout looks like.
    """
    if os.geteuid() == 0:
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.write_text("not a folder")
    else:
        folder.mkdir(parents=True, exist_ok=True)
        folder.chmod(0o555)


@pytest.fixture
def read_only_checkout(tmp_path, monkeypatch):
    """A checkout whose .cache cannot be written; HOME is a fresh folder."""
    checkout, home = tmp_path / "checkout", tmp_path / "home"
    make_unwritable(checkout / ".cache")
    home.mkdir()
    monkeypatch.setattr(utils.files, "ROOT", checkout)
    monkeypatch.setattr(utils.files, "_ANNOUNCED", set())
    monkeypatch.delenv("BOOK_CACHE_DIR", raising=False)
    monkeypatch.setenv("HOME", str(home))
    yield checkout, home
    (checkout / ".cache").chmod(0o755)  # let pytest remove it (non-root runs)


def test_book_cache_dir_wins_when_set(tmp_path, monkeypatch):
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / "chosen"))
    assert cache_dir() == tmp_path / "chosen"
    assert (tmp_path / "chosen").is_dir()


def test_the_repository_cache_is_used_when_writable(monkeypatch):
    if utils.files._write_problem(ROOT / ".cache"):
        pytest.skip("this checkout is read-only; the other tests cover that case")
    monkeypatch.delenv("BOOK_CACHE_DIR", raising=False)
    assert cache_dir() == ROOT / ".cache"


def test_read_only_checkout_caches_in_home_and_says_where(read_only_checkout):
    checkout, home = read_only_checkout
    expected = home / ".cache" / "loss-functions-book"
    with pytest.warns(UserWarning, match="caches go to") as record:
        assert cache_dir() == expected
    message = str(record[0].message)
    assert str(expected) in message and str(checkout / ".cache") in message
    assert "BOOK_CACHE_DIR" in message
    with atomic_write(expected / "probe.txt") as temporary:
        temporary.write_text("written")
    assert (expected / "probe.txt").read_text() == "written"


def test_the_fallback_is_named_once_per_run(read_only_checkout, recwarn):
    cache_dir()
    cache_dir()
    assert len([w for w in recwarn if "caches go to" in str(w.message)]) == 1


def test_nothing_writable_names_every_folder_tried(read_only_checkout):
    checkout, home = read_only_checkout
    make_unwritable(home / ".cache")
    with pytest.raises(PermissionError) as error:
        cache_dir()
    message = str(error.value)
    assert str(checkout / ".cache") in message
    assert str(home / ".cache" / "loss-functions-book") in message
    assert "BOOK_CACHE_DIR" in message


def test_unwritable_book_cache_dir_is_named(tmp_path, monkeypatch):
    make_unwritable(tmp_path / "chosen")
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path / "chosen"))
    with pytest.raises(PermissionError, match="BOOK_CACHE_DIR") as error:
        cache_dir()
    assert str(tmp_path / "chosen") in str(error.value)
    (tmp_path / "chosen").chmod(0o755)


def leftovers(folder, name):
    """Return the temporary files that writing ``name`` left in ``folder``."""
    return sorted(path.name for path in folder.iterdir()
                  if path.name.startswith(f".{name}."))


def test_atomic_write_keeps_the_old_file_when_the_writer_fails(tmp_path):
    target = tmp_path / "result.json"
    target.write_text('{"good": true}')
    with pytest.raises(SimulatedKill):
        with atomic_write(target) as temporary:
            temporary.write_text('{"go')  # half of the new content
            raise SimulatedKill
    assert target.read_text() == '{"good": true}'
    assert leftovers(tmp_path, "result.json") == []


def test_atomic_write_replaces_the_file_on_success(tmp_path):
    target = tmp_path / "result.json"
    target.write_text("old")
    with atomic_write(target) as temporary:
        temporary.write_text("new")
    assert target.read_text() == "new"
    assert leftovers(tmp_path, "result.json") == []


def test_a_process_killed_while_writing_leaves_the_old_file(tmp_path):
    # A real SIGKILL: no exception handler runs, so only the rename order
    # protects the file.
    target = tmp_path / "result.json"
    target.write_text("good")
    writer = textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {str(ROOT)!r})
        from utils.files import atomic_write
        with atomic_write({str(target)!r}) as temporary:
            temporary.write_text("half of the new")
            print("written", flush=True)
            time.sleep(60)
    """)
    process = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE,
                               text=True)
    try:
        assert process.stdout.readline().strip() == "written"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert target.read_text() == "good"
    # The half-written temporary file stays behind, hidden, beside the target.
    assert len(leftovers(tmp_path, "result.json")) == 1


def torch_save_that_dies_halfway(real_save):
    """Return a ``torch.save`` that writes half of the file, then is killed."""
    def save(obj, destination, *args, **kwargs):
        buffer = io.BytesIO()
        real_save(obj, buffer, *args, **kwargs)
        with open(destination, "wb") as stream:
            stream.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])
        raise SimulatedKill
    return save


def test_checkpoint_killed_halfway_leaves_the_previous_one_loadable(tmp_path,
                                                                    monkeypatch):
    torch.manual_seed(0)
    model = nn.Linear(4, 3)
    path = save_checkpoint(model, tmp_path / "model.pt")
    saved = {key: value.clone() for key, value in model.state_dict().items()}
    with torch.no_grad():
        model.weight.add_(1.0)
    monkeypatch.setattr(torch, "save", torch_save_that_dies_halfway(torch.save))
    with pytest.raises(SimulatedKill):
        save_checkpoint(model, path)
    monkeypatch.undo()
    restored = load_checkpoint(nn.Linear(4, 3), path)
    for key, value in restored.state_dict().items():
        assert torch.equal(value, saved[key])
    assert leftovers(tmp_path, "model.pt") == []


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_a_damaged_checkpoint_gives_a_clear_error(tmp_path, damage):
    path = save_checkpoint(nn.Linear(4, 3), tmp_path / "model.pt")
    content = path.read_bytes()
    path.write_bytes({"truncated": content[: len(content) // 2],
                      "garbage": b"not a checkpoint at all", "empty": b""}[damage])
    with pytest.raises(RuntimeError) as error:
        load_checkpoint(nn.Linear(4, 3), path)
    message = str(error.value)
    assert str(path) in message and "Delete it" in message


def records(value):
    """Return a stand-in for an experiment's records (with logits, like real ones)."""
    return [{"label": "cross-entropy", "accuracy": value, "logits": torch.ones(2, 5)}]


def test_cached_results_killed_while_saving_keep_the_previous_ones(tmp_path,
                                                                   monkeypatch):
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path))
    quick = settings("quick")
    first = cached("kill-test", quick, lambda: records(0.5))
    assert first[0]["accuracy"] == 0.5
    monkeypatch.setattr(torch, "save", torch_save_that_dies_halfway(torch.save))
    with pytest.raises(SimulatedKill):
        cached("kill-test", quick, lambda: records(0.9), refresh=True)
    monkeypatch.undo()
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path))

    def must_not_run():
        raise AssertionError("the saved results were not reused")

    again = cached("kill-test", quick, must_not_run)
    assert again[0]["accuracy"] == 0.5
    assert torch.equal(again[0]["logits"], torch.ones(2, 5))
    assert leftovers(tmp_path / "results", "kill-test-quick.pt") == []
    summary = json.loads((tmp_path / "results" / "kill-test-quick.json").read_text())
    assert summary["records"][0]["accuracy"] == 0.5


def test_damaged_cached_results_are_recomputed_not_trusted(tmp_path, monkeypatch):
    monkeypatch.setenv("BOOK_CACHE_DIR", str(tmp_path))
    quick = settings("quick")
    cached("damage-test", quick, lambda: records(0.5))
    path = tmp_path / "results" / "damage-test-quick.pt"
    path.write_bytes(path.read_bytes()[:100])
    recomputed = cached("damage-test", quick, lambda: records(0.7))
    assert recomputed[0]["accuracy"] == 0.7
    assert cached("damage-test", quick, lambda: records(0.1))[0]["accuracy"] == 0.7
