"""Port calls: detections over time -> visits at berths -> voyages (load to discharge)."""

from pipeline.portcalls.inputs import check_inputs, one_model_per_sensor
from pipeline.portcalls.visits import build_visits
from pipeline.portcalls.voyages import Voyage, link_voyages

__all__ = ["build_visits", "check_inputs", "link_voyages", "one_model_per_sensor", "Voyage"]
