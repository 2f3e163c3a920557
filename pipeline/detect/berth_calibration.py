"""A bundle's calibration at berths: ``models/<bundle>/berths.json``.

Written by ``benchmarks/detect_at_berths.py --write-bundle`` (tankers at load and discharge
berths of simulations that are not scored), read where configs/estimate names it
(``measured:``): ``portcalls.detector_recall`` takes its recall per sensor as the prior, and
``portcalls.berth_size_error_by_sensor`` its size bias, spread and systematic share.
Format ``tankerwatch-berth-calibration/1``::

    {"format": ..., "model": NAME, "weights_sha256": SHA of the weights measured,
     "measured": {"command": ..., "simulations": [...], "when_utc": ...},
     "sensors": {SENSOR: {"gsd_m", "tankers", "found", "recall_by_simulation": [...],
                          "tankers_by_simulation": [...] (optional: the tankers behind
                          each share; the recall prior's spread then weighs them),
                          "matched", "length_bias_m", "length_sd_m", "beam_bias_m",
                          "beam_sd_m",
                          "length_within_call_sd_m", "calls_repeated", "systematic_frac"
                          (optional: the spread of the length errors of one call, a hull's
                          stay at the berth, about their own mean, over the calls measured
                          more than once, and the share of the variance that repeats between
                          images of one stay),
                          "recall_by_length": {"edges_m": [...], "tankers": [...],
                          "found": [...]} (optional: per bin of true hull length, the last
                          bin open above; the estimate weighs the calls seen by it when it
                          draws the barrels of the calls missed)}}}
"""

from __future__ import annotations

# the reader lives in the core (pipeline.recordio), where port calls read it too
from pipeline.recordio import (
    CALIBRATION_FILE,
    CALIBRATION_FORMAT,
    bundle_calibration,
    read_calibration,
)

__all__ = ["CALIBRATION_FILE", "CALIBRATION_FORMAT", "bundle_calibration", "read_calibration"]
