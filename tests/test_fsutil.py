import pytest

from pipeline.errors import TankerWatchError
from pipeline.fsutil import atomic_path, atomic_write_text, ensure_dir


def test_atomic_write_replaces_only_on_success(tmp_path):
    target = tmp_path / "a.txt"
    atomic_write_text(target, "one")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert target.read_text() == "one"
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_ensure_dir_refuses_a_file(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(TankerWatchError, match="cannot create folder"):
        ensure_dir(tmp_path / "f" / "sub")


def _killed_writer(target):
    """A process killed (SIGKILL) in the middle of an atomic write: its temporary file stays."""
    import subprocess
    import sys

    code = (
        "import os, signal, sys\n"
        "from pipeline.fsutil import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_text('half')\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    res = subprocess.run([sys.executable, "-c", code, str(target)], check=False)
    assert res.returncode == -9


def test_temporary_files_of_a_killed_writer_are_removed(tmp_path):
    import os
    import time

    from pipeline.fsutil import remove_stale_temps

    sub = tmp_path / "port" / "scene"
    sub.mkdir(parents=True)
    _killed_writer(sub / "scene.tif")
    orphans = [p.name for p in sub.iterdir()]
    assert len(orphans) == 1 and orphans[0].startswith(".scene.tif.")
    keep = [sub / ".hidden.tif", sub / "scene.tif.bak", sub / ".scene.tif.abcdefgh.tif"]
    for p in keep:
        p.write_text("not ours")
    with atomic_path(sub / "item.json") as live:  # a write in progress in this process
        live.write_text("{}")
        assert remove_stale_temps(tmp_path) == 1
        assert live.exists()
    assert sorted(p.name for p in sub.iterdir()) == sorted([p.name for p in keep] + ["item.json"])
    # another machine's temporary file: only once it has not been written to for long
    other = sub / ".scene.tif.twtmp-elsewhere-1-abcdefgh.tif"
    other.write_text("x")
    assert remove_stale_temps(tmp_path) == 0
    old = time.time() - 7 * 24 * 3600
    os.utime(other, (old, old))
    assert remove_stale_temps(tmp_path) == 1 and not other.exists()
    assert all(p.exists() for p in keep)
    # the name earlier versions gave their temporary files: on age alone too
    for p in keep:
        os.utime(p, (old, old))
    assert remove_stale_temps(tmp_path) == 1 and not keep[2].exists()
    assert keep[0].exists() and keep[1].exists()
