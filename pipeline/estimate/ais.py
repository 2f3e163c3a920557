"""AIS identification of deliveries: a call whose hull matched a transponder is named by it.

``apply_ais(deliveries, identities, registry)`` returns the deliveries with ``dark`` and
``ais_mmsi`` set from the port-call stage's ``VisitAis`` verdicts (pipeline.portcalls.ais). A
call named by AIS with probability >= ``threshold`` takes the transponder's vessel: linked to
the registry by IMO, else by name, else the AIS name (or "MMSI n"), with the AIS probability;
its size-based candidates stay listed. Dark calls (and weak AIS matches) keep the size-based
Bayes identification. Barrels stay those of the size-based estimate.
"""

from __future__ import annotations

import dataclasses
import re

from pipeline.config import Vessel
from pipeline.portcalls.ais import VisitAis
from pipeline.records import Delivery


def _norm(name: str | None) -> str:
    return re.sub(r"[^A-Z0-9]+", " ", (name or "").upper()).strip()


def registry_vessel(ais: VisitAis, registry: list[Vessel]) -> Vessel | None:
    """The registry row of an AIS vessel: by IMO, else by name (case and punctuation aside)."""
    if ais.imo:
        for v in registry:
            if v.imo == ais.imo:
                return v
    if ais.name:
        key = _norm(ais.name)
        for v in registry:
            if _norm(v.name) == key:
                return v
    return None


def apply_ais(
    deliveries: list[Delivery],
    identities: dict[str, VisitAis],
    registry: list[Vessel],
    threshold: float = 0.5,
) -> list[Delivery]:
    out = []
    for d in deliveries:
        ais = identities.get(d.load_visit)
        if ais is None:
            out.append(d)
            continue
        if ais.dark or ais.probability < threshold:
            out.append(dataclasses.replace(d, dark=ais.dark, ais_mmsi=None))
            continue
        reg = registry_vessel(ais, registry)
        name = reg.name if reg else (ais.name or f"MMSI {ais.mmsi}")
        imo = (reg.imo if reg else None) or ais.imo
        method = (
            f"AIS identification: MMSI {ais.mmsi} matched {ais.matched} of {ais.evidence} "
            f"sightings (probability {ais.probability:.2f})"
            + ("" if reg else "; not in the registry")
            + f"; size-based: {d.vessel} ({d.id_probability:.2f}). "
            + d.method
        )
        out.append(
            dataclasses.replace(
                d,
                vessel=name,
                imo=imo,
                id_probability=round(ais.probability, 4),
                method=method,
                dark=False,
                ais_mmsi=ais.mmsi,
            )
        )
    return out
