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


def score_scene(detections, labels: list[dict]) -> dict:
    """Per-scene counts and matched pairs for Detection records vs label dicts (EPSG:4326).

    Labels more than half hidden (property ``occluded`` > 0.5, e.g. by simulated cloud) are
    "ignore" regions: missing them is no error, and a prediction on one is not a false alarm.
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
    if not detections and not labels:
        return {"tp": 0, "fp": 0, "fn": 0, "pairs": [], "pred_boxes": [], "label_boxes": []}
    ref = [lab["geometry"] for lab in labels] or [Point(detections[0].lon, detections[0].lat)]
    crs = _utm_of(ref)
    lab_shapes = [to_crs(lab["geometry"], "EPSG:4326", crs) for lab in labels]
    pred_shapes = [to_crs(wkt.loads(d.geometry), "EPSG:4326", crs) for d in detections]
    pred_pts = [to_crs(Point(d.lon, d.lat), "EPSG:4326", crs) for d in detections]
    pairs = match(pred_pts, lab_shapes)
    tp = len(pairs)
    out_pairs = []
    for i, j, dist in pairs:
        lab = labels[j]
        true_len = lab.get("length_m")
        true_beam = lab.get("beam_m")
        if true_len is None or true_beam is None:
            from pipeline.detect.geometry import box_from_polygon

            b = box_from_polygon(lab_shapes[j])
            true_len, true_beam = b.length, b.beam
        out_pairs.append(
            {
                "distance_m": dist,
                "length_m": detections[i].length_m,
                "true_length_m": float(true_len),
                "beam_m": detections[i].beam_m,
                "true_beam_m": float(true_beam),
                "cls": detections[i].cls,
                "true_cls": lab["cls"],
            }
        )
    return {
        "tp": tp,
        "fp": len(detections) - tp,
        "fn": len(labels) - tp,
        "pairs": out_pairs,
        "pred_boxes": [list(s.bounds) for s in pred_shapes],
        "pred_scores": [d.score for d in detections],
        "label_boxes": [list(s.bounds) for s in lab_shapes],
    }


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
    return {
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "map50": round(coco_map50(per_scene), 4),
        "length_mae_m": round(len_mae, 2) if pairs else None,
        "beam_mae_m": round(beam_mae, 2) if pairs else None,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "n_labels": tp + fn,
        "n_predictions": tp + fp,
    }


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
    on_skip: Callable[[str, str], None] = log_skip,
) -> dict:
    """Detect on every scene of a dataset (<root>/<scene>/ or <root>/scenes/<scene>/) and score
    it. Returns {"model", "dataset", "overall": {...}, "scenes": {name: {...}}, "skipped":
    {name: reason}}.

    A scene that cannot be read (its raster or its labels) is left out, reported through
    ``on_skip(name, reason)`` and listed under "skipped"; no usable scene at all is an error."""
    from pipeline.detect.data import scene_dirs
    from pipeline.detect.geometry import read_labels
    from pipeline.detect.infer import detect_scene

    dirs = scene_dirs(root)
    if scenes is not None:
        wanted = set(scenes)
        dirs = [d for d in dirs if d.name in wanted]
        missing = wanted - {d.name for d in dirs}
        if missing:
            raise TankerWatchError(f"{root}: scenes not found: {', '.join(sorted(missing))}")
    per_scene: dict[str, dict] = {}
    skipped: dict[str, str] = {}
    for d in dirs:
        try:
            labels = read_labels(d / "labels.geojson")
            dets = detect_scene(d / "scene.tif", detector, scene_id=d.name)
        except TankerWatchError as exc:
            skipped[d.name] = str(exc)
            on_skip(d.name, str(exc))
            continue
        per_scene[d.name] = score_scene(dets, labels)
    if not per_scene:
        first = next(iter(skipped.values()))
        raise TankerWatchError(f"{root}: no usable scene ({len(skipped)} skipped; first: {first})")
    out = {
        "model": detector.model_id,
        "dataset": str(root),
        "overall": summarise(per_scene),
        "scenes": {k: summarise({k: v}) for k, v in per_scene.items()},
        "skipped": skipped,
    }
    return out
