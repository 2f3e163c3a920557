"""Port calls: detections over time -> visits at berths -> voyages (load to discharge)."""

from pipeline.portcalls.visits import build_visits
from pipeline.portcalls.voyages import Voyage, link_voyages

__all__ = ["build_visits", "link_voyages", "Voyage"]
