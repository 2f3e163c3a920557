"""A bundle's calibration at berths: ``models/<bundle>/berths.json``.

Written by ``benchmarks/detect_at_berths.py --write-bundle`` (tankers at load and discharge
berths of simulations that are not scored), read by the batch runner, which hands the
``SensorCalibration`` records to port calls (size bias and sigma per sensor) and to the estimate
(recall prior per sensor). Format ``tankerwatch-berth-calibration/1``::

    {"format": ..., "model": NAME, "weights_sha256": SHA of the weights measured,
     "measured": {"command": ..., "simulations": [...], "when_utc": ...},
     "sensors": {SENSOR: {"gsd_m", "tankers", "found", "recall_by_simulation": [...],
                          "matched", "length_bias_m", "length_sd_m", "beam_bias_m",
                          "beam_sd_m"}}}
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.errors import TankerWatchError
from pipeline.records import SensorCalibration

CALIBRATION_FORMAT = "tankerwatch-berth-calibration/1"
CALIBRATION_FILE = "berths.json"


def _num(doc: dict, key: str, where: str, kind=float):
    try:
        v = doc[key]
        if v is None or isinstance(v, bool):
            raise TypeError(key)
        return kind(v)
    except (KeyError, TypeError, ValueError):
        raise TankerWatchError(f"{where}: field '{key}' is missing or not a number") from None


def read_calibration(
    path: Path | str, weights_sha256: str | None = None
) -> list[SensorCalibration]:
    """The sensors of one berths.json. A file measured with other weights than
    ``weights_sha256`` (a retrained bundle whose calibration was not re-measured) is refused."""
    path = Path(path)
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TankerWatchError(f"{path}: file not found") from None
    except (OSError, ValueError) as exc:
        raise TankerWatchError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(doc, dict) or doc.get("format") != CALIBRATION_FORMAT:
        raise TankerWatchError(f"{path}: field 'format': expected '{CALIBRATION_FORMAT}'")
    if weights_sha256 and doc.get("weights_sha256") != weights_sha256:
        raise TankerWatchError(
            f"{path}: measured with weights {str(doc.get('weights_sha256'))[:12]}..., the bundle "
            f"has {weights_sha256[:12]}... (re-measure with benchmarks/detect_at_berths.py "
            "--write-bundle)"
        )
    sensors = doc.get("sensors")
    if not isinstance(sensors, dict) or not sensors:
        raise TankerWatchError(f"{path}: field 'sensors': no sensor measured")
    out = []
    for name, s in sorted(sensors.items()):
        where = f"{path} sensors.{name}"
        if not isinstance(s, dict):
            raise TankerWatchError(f"{where}: not an object")
        tankers = _num(s, "tankers", where, int)
        found = _num(s, "found", where, int)
        if tankers <= 0 or not 0 <= found <= tankers:
            raise TankerWatchError(f"{where}: needs tankers > 0 and 0 <= found <= tankers")
        by_sim = s.get("recall_by_simulation") or []
        if not isinstance(by_sim, list) or not all(
            isinstance(x, int | float) and 0 <= x <= 1 for x in by_sim
        ):
            raise TankerWatchError(f"{where}: field 'recall_by_simulation': a list of shares 0-1")
        out.append(
            SensorCalibration(
                sensor=name,
                model=str(doc.get("model", "")),
                gsd_m=_num(s, "gsd_m", where),
                tankers=tankers,
                found=found,
                recall_by_simulation=tuple(float(x) for x in by_sim),
                length_bias_m=_num(s, "length_bias_m", where),
                length_sd_m=_num(s, "length_sd_m", where),
                beam_bias_m=_num(s, "beam_bias_m", where),
                beam_sd_m=_num(s, "beam_sd_m", where),
                source=str(path),
            )
        )
    return out


def bundle_calibration(folder: Path, weights_sha256: str) -> list[SensorCalibration]:
    """The calibration a bundle folder carries ([] when it has none)."""
    path = Path(folder) / CALIBRATION_FILE
    return read_calibration(path, weights_sha256) if path.exists() else []
