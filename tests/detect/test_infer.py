"""Tiled detection: a vessel on a tile seam is reported once, lengths are true ground metres
whatever the scene CRS, land masking, evidence chips."""

from __future__ import annotations

import math
import threading

import numpy as np
import pytest
from shapely import wkt

from detect import synth
from pipeline.detect.baseline import BaselineDetector
from pipeline.detect.infer import detect_scene, point_nms
from pipeline.errors import TankerWatchError


class SmallTiles(BaselineDetector):
    tile = 64
    overlap = 24


def test_point_nms_keeps_best_of_close_centres():
    dets = [
        {"cx": 10.0, "cy": 10.0, "score": 0.5},
        {"cx": 11.5, "cy": 9.0, "score": 0.9},
        {"cx": 30.0, "cy": 10.0, "score": 0.4},
    ]
    kept = point_nms(dets, radius_px=4.0)
    assert [d["score"] for d in kept] == [0.9, 0.4]


def test_vessel_on_tile_seam_is_reported_once(tmp_path):
    # tiles start every 40 px; put hulls across the seams at x=40 and y=80 and one in a corner
    ships = [(40.5, 20, 200, 30, 90), (20, 80.5, 180, 30, 0), (80.3, 80.2, 150, 25, 45)]
    refl, transform, crs, polys = synth.utm_scene(128, 128, ships=ships, seed=3)
    path = synth.write_geotiff(tmp_path / "seam.tif", refl, transform, crs)
    dets = detect_scene(path, SmallTiles())
    assert len(dets) == 3
    for poly in polys:
        from pipeline.detect.geometry import to_crs

        near = [
            d for d in dets if to_crs(wkt.loads(d.geometry), "EPSG:4326", crs).distance(poly) < 10
        ]
        assert len(near) == 1


def test_same_length_in_web_mercator_and_utm(tmp_path):
    ships = [(64, 64, 220, 32, 60)]
    refl, transform, crs, _ = synth.utm_scene(128, 128, ships=ships, seed=5)
    utm_path = synth.write_geotiff(tmp_path / "utm.tif", refl, transform, crs)
    merc, mt = synth.reproject_to(refl, transform, crs, "EPSG:3857", 10.0)
    merc_path = synth.write_geotiff(tmp_path / "merc.tif", merc, mt, "EPSG:3857")
    a = detect_scene(utm_path, BaselineDetector())
    b = detect_scene(merc_path, BaselineDetector())
    assert len(a) == len(b) == 1
    # 10 Mercator units at 42.9 N are only 7.3 m: a naive pixel count would say ~300 m
    assert abs(a[0].length_m - 220) < 25
    assert abs(b[0].length_m - a[0].length_m) < 15
    assert abs(a[0].heading_deg - 60) < 10 and abs(b[0].heading_deg - 60) < 10
    assert math.isclose(a[0].lat, b[0].lat, abs_tol=2e-4)


def test_land_mask_and_chips(tmp_path):
    from shapely.geometry import box

    ships = [(30, 30, 150, 30, 0), (100, 100, 150, 30, 0)]
    refl, transform, crs, _ = synth.utm_scene(128, 128, ships=ships, seed=7)
    path = synth.write_geotiff(tmp_path / "s.tif", refl, transform, crs)
    dets = detect_scene(path, BaselineDetector(), chips_dir=tmp_path / "chips", scene_id="x")
    assert len(dets) == 2 and all(d.scene_id == "x" for d in dets)
    assert len(list((tmp_path / "chips").glob("x_*.png"))) == 2
    first = dets[0]
    land = box(first.lon - 0.001, first.lat - 0.001, first.lon + 0.001, first.lat + 0.001)
    masked = detect_scene(path, BaselineDetector(), land=land)
    assert len(masked) == 1 and masked[0].id != first.id


def test_default_scene_id_is_folder_or_stem(tmp_path):
    refl, transform, crs, _ = synth.utm_scene(64, 64, ships=[(32, 32, 150, 30, 0)], seed=2)
    synth.write_geotiff(tmp_path / "portA" / "scene.tif", refl, transform, crs)
    assert detect_scene(tmp_path / "portA", BaselineDetector())[0].scene_id == "portA"
    p = synth.write_geotiff(tmp_path / "other.tif", refl, transform, crs)
    assert detect_scene(p, BaselineDetector())[0].scene_id == "other"


def test_all_nodata_scene_raises(tmp_path):
    from pipeline.errors import TankerWatchError

    refl, transform, crs, _ = synth.utm_scene(64, 64, seed=2)
    p = synth.write_geotiff(tmp_path / "zero.tif", refl * 0, transform, crs, nodata=0)
    with pytest.raises(TankerWatchError, match="all pixels are nodata"):
        detect_scene(p, BaselineDetector())


def test_read_ahead_keeps_order_and_raises_the_readers_error():
    from pipeline.detect.infer import read_ahead

    assert list(read_ahead(iter(range(50)), depth=2)) == list(range(50))
    assert list(read_ahead(iter(range(5)), depth=0)) == list(range(5))

    def failing():
        yield 1
        raise OSError("block 7 unreadable")

    got = []
    with pytest.raises(OSError, match="block 7"):
        for item in read_ahead(failing()):
            got.append(item)
    assert got == [1]


def test_read_ahead_stops_its_thread_when_the_consumer_stops():

    from pipeline.detect.infer import read_ahead

    produced = []

    def endless():
        n = 0
        while True:
            produced.append(n)
            yield n
            n += 1

    for item in read_ahead(endless(), depth=2):
        if item == 3:
            break
    assert not [t for t in threading.enumerate() if t.name == "tankerwatch-reader"]
    assert len(produced) <= 3 + 1 + 2 + 1  # never more than depth items ahead


class CountingTiles(SmallTiles):
    """The baseline on small tiles, counting the windows it is given."""

    def __init__(self, min_water_px):
        self.min_water_px = min_water_px
        self.calls = 0

    def detect_array(self, refl, valid):
        self.calls += 1
        return super().detect_array(refl, valid)


def _half_land_scene(tmp_path):
    ships = [(100, 30, 200, 30, 90), (100, 100, 180, 30, 0)]
    refl, transform, crs, _ = synth.utm_scene(128, 128, ships=ships, seed=3)
    # the left half is land: brighter in near-infrared than in green (NDWI < 0)
    refl[:, :, :72] = np.array([0.08, 0.10, 0.12, 0.30])[:, None, None]
    return synth.write_geotiff(tmp_path / "coast.tif", refl, transform, crs)


def test_windows_without_water_are_not_detected_on(tmp_path):
    path = _half_land_scene(tmp_path)
    every, skipping = CountingTiles(0), CountingTiles(50)
    stats: dict = {}
    a = detect_scene(path, every)
    b = detect_scene(path, skipping, stats=stats)
    assert [d.id for d in a] == [d.id for d in b] and len(a) == 2
    assert stats["valid"] == every.calls == 9  # 3 x 3 windows of 64 px every 40 px
    assert stats["dry"] == 3 and skipping.calls == stats["detected"] == 6


def test_water_test_needs_green_and_near_infrared():
    from pipeline.detect.infer import water_bands, water_pixels

    class Sar:
        bands = ["VV", "VH"]

    assert water_bands(Sar()) is None
    assert water_bands(BaselineDetector()) == (1, 3)
    refl = np.zeros((4, 2, 2), np.float32)
    refl[1] = [[0.1, 0.1], [0.1, 0.01]]  # green
    refl[3] = [[0.02, 0.3], [0.02, 0.3]]  # near-infrared
    valid = np.array([[True, True], [False, True]])
    assert water_pixels(refl, valid, (1, 3)) == 1


def test_nan_pixels_do_not_blank_the_network(tmp_path):
    """Four NaN pixels in a corner of a float scene are nodata: the released model finds the
    same vessels as without them (NaN in its input made every output NaN: 0 vessels)."""
    from pipeline.detect import load_detector

    ships = [(30, 30, 150, 30, 0), (100, 100, 150, 30, 0), (60, 100, 150, 30, 90)]
    ships += [(100, 30, 150, 30, 45), (60, 60, 150, 30, 0)]
    refl, transform, crs, _ = synth.utm_scene(128, 128, ships=ships, seed=7)
    clean = synth.write_geotiff(tmp_path / "clean.tif", refl, transform, crs, as_float=True)
    refl[:, :2, :2] = np.nan
    holed = synth.write_geotiff(tmp_path / "nan.tif", refl, transform, crs, as_float=True)
    det = load_detector(None)
    a, b = detect_scene(clean, det), detect_scene(holed, det)
    assert len(a) == 5
    assert len(b) == 5
    for da, db in zip(sorted(a, key=lambda d: d.lon), sorted(b, key=lambda d: d.lon), strict=True):
        assert (db.lon, db.lat) == pytest.approx((da.lon, da.lat), abs=1e-5)  # ~1 m


class SideBySide(SmallTiles):
    """The baseline on small tiles, run on ``workers`` windows at once, failing on request."""

    def __init__(self, workers, fail_at=None):
        self.workers = workers
        self.fail_at = fail_at
        self.calls = 0
        self.lock = threading.Lock()
        self.threads = set()

    def detect_array(self, refl, valid):
        import torch

        with self.lock:
            self.calls += 1
            n = self.calls
            self.threads.add((threading.current_thread().name, torch.get_num_threads()))
        if n == self.fail_at:
            raise TankerWatchError("window failed")
        return super().detect_array(refl, valid)


def test_windows_side_by_side_give_the_same_detections_in_the_same_order(tmp_path):
    import torch

    path = _half_land_scene(tmp_path)
    own = torch.get_num_threads()
    one, three = SideBySide(1), SideBySide(3)
    a, b = detect_scene(path, one), detect_scene(path, three)
    assert [(d.id, d.score) for d in a] == [(d.id, d.score) for d in b] and len(a) == 2
    assert one.calls == three.calls == 6  # 9 windows, 3 without water
    # each worker runs torch on one thread; the caller's thread count is left as it was
    assert {n for n, _ in one.threads} == {"MainThread"}
    assert {t for _, t in three.threads} == {1}
    assert all(n.startswith("tankerwatch-detect") for n, _ in three.threads)
    assert torch.get_num_threads() == own
    assert not [t for t in threading.enumerate() if t.name.startswith("tankerwatch-detect")]


def test_an_error_in_a_window_worker_is_raised_and_the_workers_stop(tmp_path):
    path = _half_land_scene(tmp_path)
    with pytest.raises(TankerWatchError, match="window failed"):
        detect_scene(path, SideBySide(2, fail_at=4))
    alive = [t.name for t in threading.enumerate()]
    assert not [n for n in alive if n.startswith(("tankerwatch-detect", "tankerwatch-reader"))]


def test_learned_detectors_on_the_cpu_run_as_many_windows_as_torch_threads():
    import torch

    from pipeline.detect.infer import window_workers

    class Learned:
        kind, device = "learned", "cpu"

    own = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        assert window_workers(Learned(), 100) == 2
        assert window_workers(Learned(), 1) == 1  # one window: all threads on it
        torch.set_num_threads(1)
        assert window_workers(Learned(), 100) == 1
    finally:
        torch.set_num_threads(own)
    Learned.device = "cuda:0"
    assert window_workers(Learned(), 100) == 1
    assert window_workers(BaselineDetector(), 100) == 1
    pinned = Learned()
    pinned.workers = 3
    assert window_workers(pinned, 100) == 3 and window_workers(pinned, 2) == 2


class Scored(SmallTiles):
    """Baseline hulls with a score by position (left half 0.2, right half 0.6), reported at or
    above its threshold, as a bundle reports its peaks; ``with_score`` as a bundle has it."""

    tile = 256  # one window over the scene: positions are scene pixels
    score_threshold = 0.4

    def with_score(self, score):
        other = Scored()
        other.score_threshold = score
        return other

    def detect_array(self, refl, valid):
        found = []
        for d in super().detect_array(refl, valid):
            d = dict(d, score=0.2 if d["cx"] < refl.shape[2] / 2 else 0.6)
            if d["score"] >= self.score_threshold:
                found.append(d)
        return found


def _two_hulls(tmp_path):
    ships = [(30, 30, 150, 30, 0), (100, 100, 150, 30, 0)]
    refl, transform, crs, _ = synth.utm_scene(128, 128, ships=ships, seed=7)
    return synth.write_geotiff(tmp_path / "s.tif", refl, transform, crs)


def test_peaks_below_the_threshold_are_kept_only_at_the_berths(tmp_path):
    from shapely.geometry import box

    path = _two_hulls(tmp_path)
    (strong,) = detect_scene(path, Scored())
    assert strong.score == 0.6
    both = detect_scene(path, Scored().with_score(0.1))
    weak = next(d for d in both if d.score == 0.2)
    around = box(weak.lon - 0.001, weak.lat - 0.001, weak.lon + 0.001, weak.lat + 0.001)
    # the weak hull lies in the berth zone: kept down to the berth score
    found = detect_scene(path, Scored(), berths=around, berth_score=0.1)
    assert sorted(d.score for d in found) == [0.2, 0.6]
    # a zone elsewhere keeps only what the threshold keeps; so does a berth score above it
    elsewhere = box(strong.lon - 0.001, strong.lat - 0.001, strong.lon + 0.001, strong.lat + 0.001)
    assert [d.score for d in detect_scene(path, Scored(), berths=elsewhere, berth_score=0.1)] == [
        0.6
    ]
    assert [d.score for d in detect_scene(path, Scored(), berths=around, berth_score=0.5)] == [0.6]
    # a detector without with_score (the classical baseline) is unchanged
    base = detect_scene(path, SmallTiles(), berths=around, berth_score=0.1)
    assert len(base) == len(detect_scene(path, SmallTiles()))


def test_a_berth_score_outside_zero_one_is_refused(tmp_path):
    from shapely.geometry import box

    path = _two_hulls(tmp_path)
    with pytest.raises(TankerWatchError, match="berth score 1.5"):
        detect_scene(path, Scored(), berths=box(0, 0, 1, 1), berth_score=1.5)


class ThreadWatching(BaselineDetector):
    """The baseline, noting which threads are alive while it detects."""

    def __init__(self):
        self.readers = []

    def detect_array(self, refl, valid):
        self.readers.append(
            [t.name for t in threading.enumerate() if t.name == "tankerwatch-reader"]
        )
        return super().detect_array(refl, valid)


def test_a_scene_of_one_window_is_read_without_a_reader_thread(tmp_path):
    """Nothing to read ahead while one window is detected (for the demo's small scenes the
    thread cost more than it saved); a scene of several windows still reads ahead."""
    ships = [(30, 30, 150, 30, 0)]
    refl, transform, crs, _ = synth.utm_scene(64, 64, ships=ships, seed=7)
    path = synth.write_geotiff(tmp_path / "one.tif", refl, transform, crs)
    one = ThreadWatching()
    assert len(detect_scene(path, one)) == 1
    assert one.readers == [[]]

    class Several(ThreadWatching):
        tile = 32
        overlap = 8

    several = Several()
    detect_scene(path, several)
    assert len(several.readers) > 1 and any(several.readers)
