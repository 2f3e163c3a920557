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
