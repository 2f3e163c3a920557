"""Executors on a real two-worker Dask cluster on loopback."""

from __future__ import annotations

import socket

import pytest

from pipeline.errors import TankerWatchError
from pipeline.run.executors import DaskExecutor, LocalExecutor, make_executor


def test_local_executor_reports_failed_tasks_and_goes_on():
    def work(x):
        if x == 2:
            raise TankerWatchError("scene 2: corrupt")
        if x == 3:
            raise ValueError("unexpected")
        return x * 10

    out = {item: (res, err) for item, res, err in LocalExecutor().map(work, [1, 2, 3, 4])}
    assert out[1] == (10, None) and out[4] == (40, None)
    assert isinstance(out[2][1], TankerWatchError)
    assert isinstance(out[3][1], ValueError)


@pytest.fixture(scope="module")
def dask_two_workers():
    with DaskExecutor(n_workers=2) as ex:
        yield ex


def test_dask_matches_local(dask_two_workers):
    def work(x):
        return x * x

    local = {i: r for i, r, _ in LocalExecutor().map(work, range(8))}
    dask = {i: r for i, r, e in dask_two_workers.map(work, range(8))}
    assert dask == local
    assert len(dask_two_workers.client.scheduler_info()["workers"]) == 2


def test_task_errors_come_back_as_raised_on_dask(dask_two_workers, tmp_path):
    """A user error raised while handling rasterio's (whose chained CPLE error cannot be
    unpickled) comes back as itself: Dask used to send a bare Exception holding its repr."""
    bad = tmp_path / "scene.tif"
    bad.write_bytes(b"II*\x00" + b"\x00" * 296)  # a cut-short GeoTIFF

    def work(x):
        import rasterio
        from rasterio.errors import RasterioIOError

        if x == 1:
            try:
                rasterio.open(bad)
            except RasterioIOError:
                raise TankerWatchError(f"{bad}: cannot read raster") from None
        if x == 2:
            raise ValueError("unexpected")
        return x

    out = {i: (r, e) for i, r, e in dask_two_workers.map(work, [0, 1, 2])}
    assert out[0] == (0, None)
    assert type(out[1][1]) is TankerWatchError and str(out[1][1]) == f"{bad}: cannot read raster"
    assert type(out[2][1]) is ValueError and str(out[2][1]) == "unexpected"


def test_worker_dying_mid_task_is_retried_elsewhere(dask_two_workers, tmp_path):
    marker = tmp_path / "died-once"

    def work(x):
        import os

        if x == 3 and not marker.exists():
            marker.write_text("x")
            os._exit(1)  # the worker process dies in the middle of the task
        return x + 100

    results = {i: (r, e) for i, r, e in dask_two_workers.map(work, range(5))}
    assert marker.exists()
    assert results == {i: (i + 100, None) for i in range(5)}


def test_unreachable_scheduler_is_one_clear_error():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free port: nothing listens there
    with pytest.raises(TankerWatchError, match=f"tcp://127.0.0.1:{port} does not answer"):
        DaskExecutor(scheduler=f"tcp://127.0.0.1:{port}", connect_timeout_s=2)


def test_unknown_executor():
    with pytest.raises(TankerWatchError, match="unknown executor"):
        make_executor("spark")
