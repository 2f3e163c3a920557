"""Detection: vessels in a scene -> Detection records (oriented footprints, true ground metres).

Entry: ``detect_scene(path, detector, land=None, chips_dir=None, scene_id=None)``, with a
``Detector`` from ``load_detector(name_or_path)`` (a released bundle, a folder, or "baseline").
"""

from pipeline.detect.bundle import load_detector
from pipeline.detect.detector import Detector
from pipeline.detect.infer import detect_scene

__all__ = ["Detector", "detect_scene", "load_detector"]
