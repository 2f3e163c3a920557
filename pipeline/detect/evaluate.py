"""Scoring detections against labelled footprints.

A prediction matches a label when its centre lies within 30 m of the labelled footprint (0 m when
inside it); matching is one-to-one by Hungarian assignment (scipy.optimize.linear_sum_assignment)
on those distances. Precision, recall, F1 and length / beam mean absolute error over matched pairs
are computed here; COCO mAP@0.5 (axis-aligned boxes of the footprints, in metres of the local
UTM zone) comes from torchmetrics.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path

import numpy as np

from pipeline.detect.detector import Detector
from pipeline.errors import TankerWatchError

log = logging.getLogger(__name__)

MATCH_DISTANCE_M = 30.0


def match(pred_points, label_shapes, max_distance_m: float = MATCH_DISTANCE_M):
    """One-to-one matches [(pred_i, label_j, distance_m)] of prediction centres (shapely Points,
    metric CRS) to label footprints (shapely geometries, same CRS)."""
    from scipy.optimize import linear_sum_assignment

    if not pred_points or not label_shapes:
        return []
    big = 1e6
    cost = np.full((len(pred_points), len(label_shapes)), big)
    for i, p in enumerate(pred_points):
        for j, g in enumerate(label_shapes):
            d = g.distance(p)
            if d <= max_distance_m:
                cost[i, j] = d
    rows, cols = linear_sum_assignment(cost)
    return [
        (int(i), int(j), float(cost[i, j]))
        for i, j in zip(rows, cols, strict=True)
        if cost[i, j] < big
    ]


def _utm_of(geoms) -> str:
    from pipeline.config import utm_epsg

    c = geoms[0].centroid
    return utm_epsg(c.x, c.y)


OCCLUDED_IGNORE = 0.5
ALONGSIDE_M = 20.0  # a label whose outline is this close to land is "alongside"
MISSION_MIN_LENGTH_M = 60.0  # the mission's tankers are 60-130 m
SIZE_CLASSES = (
    ("60-120 m", 60.0, 120.0),
    ("120-200 m", 120.0, 200.0),
    ("> 200 m", 200.0, math.inf),
)


def _label_length(lab: dict, shape_m) -> float:
    if lab.get("length_m") is not None:
        return float(lab["length_m"])
    from pipeline.detect.geometry import box_from_polygon

    return float(box_from_polygon(shape_m).length)


_NEAR_LAND: dict = {}


def score_scene(detections, labels: list[dict], min_length_m: float = 0.0, land=None) -> dict:
    """Per-scene counts and matched pairs for Detection records vs label dicts (EPSG:4326).

    Labels more than half hidden (property ``occluded`` > 0.5, e.g. by simulated cloud) are
    "ignore" regions: missing them is no error, and a prediction on one is not a false alarm.

    ``min_length_m`` (the mission-size rule): labels shorter than it, the predictions matched to
    them and unmatched predictions shorter than it are neither hits nor errors; 0 scores every
    label and prediction. Matching runs over all labels first, so a small boat's detection is
    not counted as a false alarm on it.

    ``land`` (shapely, EPSG:4326): each scored label is "alongside" when its outline lies within
    ``ALONGSIDE_M`` of land, else "open"; the counts split recall between the two.
    """
    from shapely import wkt
    from shapely.geometry import Point

    from pipeline.detect.geometry import to_crs

    ignored = [lab for lab in labels if lab.get("occluded", 0.0) > OCCLUDED_IGNORE]
    labels = [lab for lab in labels if lab.get("occluded", 0.0) <= OCCLUDED_IGNORE]
    if ignored and detections:
        crs0 = _utm_of([ignored[0]["geometry"]])
        ign_shapes = [to_crs(lab["geometry"], "EPSG:4326", crs0) for lab in ignored]
        scored_shapes = [to_crs(lab["geometry"], "EPSG:4326", crs0) for lab in labels]
        keep = []
        for d in detections:
            p = to_crs(Point(d.lon, d.lat), "EPSG:4326", crs0)
            near_ignored = min(g.distance(p) for g in ign_shapes) <= MATCH_DISTANCE_M
            near_scored = any(g.distance(p) <= MATCH_DISTANCE_M for g in scored_shapes)
            if not near_ignored or near_scored:
                keep.append(d)
        detections = keep
    empty_split = {"tp": 0, "fn": 0} if land is not None else None
    if not detections and not labels:
        return {
            "tp": 0,
            "fp": 0,
            "fn": 0,
            "pairs": [],
            "pred_boxes": [],
            "pred_scores": [],
            "label_boxes": [],
            "alongside": empty_split,
            "open": dict(empty_split) if empty_split else None,
        }
    ref = [lab["geometry"] for lab in labels] or [Point(detections[0].lon, detections[0].lat)]
    crs = _utm_of(ref)
    lab_shapes = [to_crs(lab["geometry"], "EPSG:4326", crs) for lab in labels]
    pred_shapes = [to_crs(wkt.loads(d.geometry), "EPSG:4326", crs) for d in detections]
    pred_pts = [to_crs(Point(d.lon, d.lat), "EPSG:4326", crs) for d in detections]
    pairs = match(pred_pts, lab_shapes)
    lab_len = [_label_length(lab, g) for lab, g in zip(labels, lab_shapes, strict=True)]
    scored = [length >= min_length_m for length in lab_len]
    matched_label = {j: i for i, j, _ in pairs}
    ignored_pred = {i for i, j, _ in pairs if not scored[j]} | {
        i
        for i, d in enumerate(detections)
        if i not in {p[0] for p in pairs} and d.length_m < min_length_m
    }
    split = None
    if land is not None:
        from shapely.prepared import prep

        key = (id(land), crs)
        if key not in _NEAR_LAND:  # a scene's land is scored again at each threshold of a sweep
            land_m = to_crs(land, "EPSG:4326", crs)
            near = prep(land_m.buffer(ALONGSIDE_M)) if not land_m.is_empty else None
            if len(_NEAR_LAND) > 64:
                _NEAR_LAND.clear()
            _NEAR_LAND[key] = (land, near)  # holding land keeps its id from being reused
        near = _NEAR_LAND[key][1]
        split = {"alongside": {"tp": 0, "fn": 0}, "open": {"tp": 0, "fn": 0}}
        for j, g in enumerate(lab_shapes):
            if scored[j]:
                where = "alongside" if near is not None and near.intersects(g) else "open"
                split[where]["tp" if j in matched_label else "fn"] += 1
    out_pairs = []
    for i, j, dist in pairs:
        if not scored[j]:
            continue
        lab = labels[j]
        true_beam = lab.get("beam_m")
        if true_beam is None:
            from pipeline.detect.geometry import box_from_polygon

            true_beam = box_from_polygon(lab_shapes[j]).beam
        out_pairs.append(
            {
                "distance_m": dist,
                "length_m": detections[i].length_m,
                "true_length_m": lab_len[j],
                "beam_m": detections[i].beam_m,
                "true_beam_m": float(true_beam),
                "cls": detections[i].cls,
                "true_cls": lab["cls"],
            }
        )
    kept = [i for i in range(len(detections)) if i not in ignored_pred]
    tp = len(out_pairs)
    return {
        "tp": tp,
        "fp": len(kept) - tp,
        "fn": sum(scored) - tp,
        "pairs": out_pairs,
        "pred_boxes": [list(pred_shapes[i].bounds) for i in kept],
        "pred_scores": [detections[i].score for i in kept],
        "label_boxes": [list(s.bounds) for s, k in zip(lab_shapes, scored, strict=True) if k],
        "alongside": split["alongside"] if split else None,
        "open": split["open"] if split else None,
    }


def _recall_split(per_scene: dict[str, dict], where: str) -> dict | None:
    parts = [s.get(where) for s in per_scene.values()]
    if not parts or any(p is None for p in parts):
        return None
    tp = sum(p["tp"] for p in parts)
    n = tp + sum(p["fn"] for p in parts)
    return {"recall": round(tp / n, 4) if n else None, "tp": tp, "n": n}


def length_mae_by_size(pairs: list[dict]) -> dict:
    """Length MAE of matched pairs per size class of the labelled length."""
    out = {}
    for name, lo, hi in SIZE_CLASSES:
        errs = [
            abs(p["length_m"] - p["true_length_m"]) for p in pairs if lo <= p["true_length_m"] < hi
        ]
        bias = [p["length_m"] - p["true_length_m"] for p in pairs if lo <= p["true_length_m"] < hi]
        out[name] = {
            "n": len(errs),
            "mae_m": round(float(np.mean(errs)), 2) if errs else None,
            "bias_m": round(float(np.mean(bias)), 2) if bias else None,
        }
    return out


def summarise(per_scene: dict[str, dict]) -> dict:
    tp = sum(s["tp"] for s in per_scene.values())
    fp = sum(s["fp"] for s in per_scene.values())
    fn = sum(s["fn"] for s in per_scene.values())
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    pairs = [p for s in per_scene.values() for p in s["pairs"]]
    len_mae = (
        float(np.mean([abs(p["length_m"] - p["true_length_m"]) for p in pairs]))
        if pairs
        else math.nan
    )
    beam_mae = (
        float(np.mean([abs(p["beam_m"] - p["true_beam_m"]) for p in pairs])) if pairs else math.nan
    )
    len_bias = (
        float(np.mean([p["length_m"] - p["true_length_m"] for p in pairs])) if pairs else math.nan
    )
    out = {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "map50": round(coco_map50(per_scene), 4),
        "length_mae_m": round(len_mae, 2) if pairs else None,
        "length_bias_m": round(len_bias, 2) if pairs else None,
        "beam_mae_m": round(beam_mae, 2) if pairs else None,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "n_labels": tp + fn,
        "n_predictions": tp + fp,
        "length_mae_by_size": length_mae_by_size(pairs),
    }
    for where in ("alongside", "open"):
        split = _recall_split(per_scene, where)
        if split is not None:
            out[f"recall_{where}"] = split
    return out


def coco_map50(per_scene: dict[str, dict]) -> float:
    import torch
    from torchmetrics.detection import MeanAveragePrecision

    metric = MeanAveragePrecision(
        box_format="xyxy", iou_thresholds=[0.5], max_detection_thresholds=[1, 10, 1000]
    )
    preds, targets = [], []
    for s in per_scene.values():
        pb = torch.tensor(s["pred_boxes"], dtype=torch.float64).reshape(-1, 4)
        lb = torch.tensor(s["label_boxes"], dtype=torch.float64).reshape(-1, 4)
        # shift to a local origin so float32 inside torchmetrics keeps sub-metre precision
        origin = lb[:1, :2] if len(lb) else (pb[:1, :2] if len(pb) else torch.zeros(1, 2))
        shift = origin.repeat(1, 2)
        preds.append(
            {
                "boxes": (pb - shift).float(),
                "scores": torch.tensor(s.get("pred_scores", []), dtype=torch.float32),
                "labels": torch.zeros(len(pb), dtype=torch.int64),
            }
        )
        targets.append(
            {"boxes": (lb - shift).float(), "labels": torch.zeros(len(lb), dtype=torch.int64)}
        )
    if not any(len(t["boxes"]) for t in targets):
        return 0.0
    metric.update(preds, targets)
    value = float(metric.compute()["map_50"])
    return max(value, 0.0)


def log_skip(scene: str, reason: str) -> None:
    """The default report of a scene left out of an evaluation or a training run."""
    log.warning("skipped scene %s: %s", scene, reason)


def evaluate_dataset(
    root: Path | str,
    detector: Detector,
    scenes: list[str] | None = None,
    min_length_m: float = 0.0,
    land: bool = True,
    on_skip: Callable[[str, str], None] = log_skip,
) -> dict:
    """Detect on every scene of a dataset (<root>/<scene>/ or <root>/scenes/<scene>/) and score
    it (``min_length_m``: see :func:`score_scene`). With ``land``, recall is also split into
    alongside / open water, with each scene's land from :func:`pipeline.detect.land.scene_land`.
    Returns {"model", "dataset", "min_length_m", "overall": {...}, "scenes": {name: {...}},
    "skipped": {name: reason}, "land": {name: source}}.

    A scene that cannot be read (its raster or its labels) is left out, reported through
    ``on_skip(name, reason)`` and listed under "skipped"; no usable scene at all is an error."""
    from pipeline.detect.data import scene_dirs
    from pipeline.detect.geometry import read_labels
    from pipeline.detect.infer import detect_scene
    from pipeline.detect.land import scene_land_or_none

    if not min_length_m >= 0:
        raise TankerWatchError(f"min length {min_length_m}: must be a length >= 0 m")
    dirs = scene_dirs(root)
    if scenes is not None:
        wanted = set(scenes)
        dirs = [d for d in dirs if d.name in wanted]
        missing = wanted - {d.name for d in dirs}
        if missing:
            raise TankerWatchError(f"{root}: scenes not found: {', '.join(sorted(missing))}")
    per_scene: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    sources: dict[str, str] = {}
    uses_land = bool(getattr(detector, "uses_land", False))
    for d in dirs:
        shape, known = None, False
        try:
            labels = read_labels(d / "labels.geojson")
            # a detector that masks land itself (SAR CFAR) is given the scene's land, as the
            # runner gives it the port's; other detectors read the raster first, so a scene
            # that cannot be read is skipped with the detector's own one-line reason
            if uses_land:
                shape, sources[d.name] = scene_land_or_none(d)
            dets = detect_scene(
                d / "scene.tif", detector, scene_id=d.name, land=shape if uses_land else None
            )
            if land and not uses_land:
                shape, sources[d.name] = scene_land_or_none(d)
            known = d.name in sources and not sources[d.name].startswith("unknown")
        except TankerWatchError as exc:
            skipped[d.name] = str(exc)
            on_skip(d.name, str(exc))
            sources.pop(d.name, None)
            continue
        if not land:
            shape, known = None, False
        per_scene[d.name] = score_scene(dets, labels, min_length_m=min_length_m, land=shape)
        if known and shape is None:  # a scene with no land at all: every label is in open water
            per_scene[d.name]["alongside"] = {"tp": 0, "fn": 0}
            per_scene[d.name]["open"] = {
                "tp": per_scene[d.name]["tp"],
                "fn": per_scene[d.name]["fn"],
            }
    if not per_scene:
        first = next(iter(skipped.values()))
        raise TankerWatchError(f"{root}: no usable scene ({len(skipped)} skipped; first: {first})")
    out = {
        "model": detector.model_id,
        "dataset": str(root),
        "min_length_m": min_length_m,
        "overall": summarise(per_scene),
        "scenes": {k: summarise({k: v}) for k, v in per_scene.items()},
        "skipped": skipped,
    }
    if land:
        out["land"] = sources
    return out
