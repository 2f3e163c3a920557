"""What a detector is: the interface inference, evaluation and runs use, whatever finds the ships.

A learned bundle (pipeline.detect.bundle.LearnedDetector) and the classical NDWI detector
(pipeline.detect.baseline.BaselineDetector) are both a :class:`Detector`; other classical
detectors (e.g. CFAR on SAR) register a factory by name in ``CLASSICAL`` and load with
``load_detector(name)`` like a bundle.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class Detector(Protocol):
    kind: str  # "learned", "baseline", ...
    name: str
    model_id: str  # what the ledger records as the model: changes whenever its output may
    bands: list[str]  # read from each scene by name, in this order
    gsd_m: float  # the grid it detects on (scenes are resampled to it)
    tile: int  # tiling of large scenes (pixels of that grid) ...
    overlap: int
    nms_radius_m: float  # ... and the merge radius of detections across tiles

    def detect_array(self, refl: np.ndarray, valid: np.ndarray) -> list[dict]:
        """Detections in reflectance ``refl`` [bands, h, w] with ``valid`` [h, w], in grid
        pixels: dicts with cx, cy, length, beam, angle, score, cls (see pipeline.detect.infer)."""
        ...


def _baseline() -> Detector:
    from pipeline.detect.baseline import BaselineDetector

    return BaselineDetector()


def _cfar() -> Detector:
    from pipeline.detect.cfar import CfarDetector

    return CfarDetector()


# detectors without a bundle, by the name `--model` and run configs give
CLASSICAL: dict[str, Callable[[], Detector]] = {"baseline": _baseline, "cfar": _cfar}
