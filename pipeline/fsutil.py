"""Files are written to a temporary name beside the target and renamed when complete, so a
reader never sees a half-written file and an interrupted run leaves nothing partial.

A process killed while writing leaves its temporary file behind; ``remove_stale_temps`` (run by
ingest over its cache) removes those, recognised by the name ``atomic_path`` gives them:
``.<target>.twtmp-<host>-<pid>-<random><suffix>``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import TankerWatchError

log = logging.getLogger(__name__)

TEMP_TAG = "twtmp"
# a temporary file of a process on another machine (a shared cache), or of a process whose id
# has been reused, is removed once it has not been written to for this long
STALE_TEMP_AGE_S = 6 * 3600
_TEMP_RE = re.compile(
    rf"^\.(?P<target>.+)\.{TEMP_TAG}-(?P<host>[A-Za-z0-9]*)-(?P<pid>\d+)-[a-z0-9_]{{8}}"
    r"(?P<suffix>\.[^.]*)?$"
)

# the name earlier versions gave (no host, no pid): removed on age alone
_LEGACY_TEMP_RE = re.compile(r"^\.(?P<target>.+(?P<suffix>\.[^.]+))\.[a-z0-9_]{8}(?P=suffix)$")


def _host() -> str:
    """This machine and process-id namespace (containers on one machine may share a host name
    and a cache, not their process ids)."""
    try:
        ns = re.sub(r"\D", "", os.readlink("/proc/self/ns/pid"))
    except OSError:
        ns = ""
    return re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:32] + ns


@contextlib.contextmanager
def atomic_path(target: Path | str, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; rename it onto ``target`` on success only.

    The temporary name keeps the target's suffix (so GDAL drivers chosen by extension work).
    """
    target = Path(target)
    ensure_dir(target.parent)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{target.name}.{TEMP_TAG}-{_host()}-{os.getpid()}-",
        suffix=suffix or target.suffix or ".tmp",
        dir=target.parent,
    )
    os.close(fd)
    tmp_path = Path(tmp)
    tmp_path.unlink()  # let the writer create it (some drivers refuse to overwrite)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def atomic_write_text(target: Path | str, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(target: Path | str, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def ensure_dir(path: Path | str) -> Path:
    """Create a directory (and parents); a one-line error if it cannot be created or written."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise TankerWatchError(f"{path}: cannot create folder ({exc.strerror})") from None
    if not os.access(path, os.W_OK):
        raise TankerWatchError(f"{path}: folder is not writable")
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def remove_stale_temps(root: Path | str, max_age_s: float = STALE_TEMP_AGE_S) -> int:
    """Remove, under ``root``, the temporary files of ``atomic_path`` that no running writer
    owns: this machine's whose process is gone, and any not written to for ``max_age_s``.
    Nothing else is touched (the name must match atomic_path's pattern exactly); returns the
    number removed."""
    root = Path(root)
    if not root.is_dir():
        return 0
    host, now, removed = _host(), time.time(), 0
    for dirpath, _dirs, files in os.walk(root):
        for name in files:
            if not name.startswith("."):
                continue
            m = _TEMP_RE.match(name)
            if m is None and not _LEGACY_TEMP_RE.match(name):
                continue
            path = Path(dirpath) / name
            try:
                gone = m is not None and m["host"] == host and not _alive(int(m["pid"]))
                if gone or now - path.stat().st_mtime > max_age_s:
                    path.unlink()
                    removed += 1
            except OSError:  # removed meanwhile, or not ours to remove
                continue
    if removed:
        log.info("removed %d temporary file(s) left by interrupted writes under %s", removed, root)
    return removed
