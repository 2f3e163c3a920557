"""AIS identification of deliveries: a call whose hull matched a transponder is named by it.

``apply_ais(deliveries, identities, registry)`` returns the deliveries with ``dark`` and
``ais_mmsi`` set from the port-call stage's ``VisitAis`` verdicts (pipeline.portcalls.ais). A
call named by AIS with probability >= ``threshold`` takes the transponder's vessel: linked to
the registry by IMO, else by name, else the AIS name (or "MMSI n"), with the AIS probability;
its size-based candidates stay listed. Dark calls (and weak AIS matches) keep the size-based
Bayes identification.

The barrels of such a call come from the named vessel: ``ais_identification`` turns the size-based
``Identification`` into one that puts the AIS probability on the transponder's vessel (its
registry deadweight, else the length relation at its registry or AIS length) and shares the rest
over the other candidates in proportion to their size-based posteriors. ``run_estimate`` uses it
(``ais=``) for the point capacity, the loading-factor scenarios and the Monte Carlo alike.
"""

from __future__ import annotations

import dataclasses
import re

from pipeline.config import Vessel
from pipeline.estimate.registry import Candidate, Identification
from pipeline.portcalls.ais import VisitAis
from pipeline.records import Delivery

THRESHOLD = 0.5  # an AIS match at least this probable names the call


def named_by_ais(ais: VisitAis | None, threshold: float = THRESHOLD) -> bool:
    return ais is not None and not ais.dark and ais.probability >= threshold


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


def ais_name(ais: VisitAis, reg: Vessel | None) -> str:
    return reg.name if reg else (ais.name or f"MMSI {ais.mmsi}")


def alibi_factors(
    ais: VisitAis | None, registry: list[Vessel], weight: float, silence_max: float = 1.0
) -> dict[str, float]:
    """Registry name -> prior factor for the size-based identification of a call, from the
    transponders that put vessels elsewhere while its hull was seen (``VisitAis.alibis``): 0 when
    an image confirmed the vessel elsewhere, ``weight`` when only its transponder said so (the
    odds that it was spoofing its position), 1 (no change) when the report looks like spoofing
    itself (a stationary position at sea), and 1 for an ``edge`` alibi (the vessel was elsewhere
    only at one end of the visit and hid at the rest: it may have arrived, or left, in between,
    and the visit have been built from two calls). A vessel whose transponder hid meanwhile
    (``VisitAis.silent``: silent, or only that spoofing-like report) gets 1 / the share of image
    times it is silent anyway, at most ``silence_max`` (the odds that a usually heard vessel goes
    quiet exactly while it loads dark). Transponders not in the registry change nothing."""
    out: dict[str, float] = {}
    for a in ais.alibis if ais is not None else []:
        reg = registry_vessel(VisitAis("", a.mmsi, 0.0, a.name, a.imo), registry)
        if reg is None or a.edge:
            continue  # an edge alibi: the vessel may be the hull of the visit's other sightings
        f = 0.0 if a.confirmed else (1.0 if a.suspect else weight)
        out[reg.name] = min(out.get(reg.name, 1.0), f)
    for q in ais.silent if ais is not None and silence_max > 1.0 else []:
        reg = registry_vessel(VisitAis("", q.mmsi, 0.0, q.name, q.imo), registry)
        if reg is None or out.get(reg.name, 1.0) < 1.0:
            continue  # an alibi outweighs silence
        out[reg.name] = min(1.0 / max(q.share, 1e-9), silence_max)
    return {k: f for k, f in out.items() if f != 1.0}


def alibi_note(factors: dict[str, float]) -> str:
    """The method text's account of the vessels an alibi weighed down."""
    if not factors:
        return ""
    out = [n for n, f in sorted(factors.items()) if f == 0.0]
    down = [f"{n} (x{f:g})" for n, f in sorted(factors.items()) if 0.0 < f < 1.0]
    up = [f"{n} (x{f:.3g})" for n, f in sorted(factors.items()) if f > 1.0]
    parts = []
    if out:
        parts.append("ruled out, seen elsewhere by an image matched to its AIS: " + ", ".join(out))
    if down:
        parts.append("weighed down, its AIS reported it elsewhere: " + ", ".join(down))
    if up:
        parts.append("weighed up, its usually heard AIS was silent meanwhile: " + ", ".join(up))
    return "; AIS alibis: " + "; ".join(parts)


def ais_identification(
    ident: Identification, ais: VisitAis, registry: list[Vessel]
) -> Identification:
    """The size-based identification of a call whose hull matched ``ais``'s transponder: the
    transponder's vessel with the AIS probability, every other outcome (other candidates and
    "unidentified") with the rest, shared as the size-based posterior shares it once that vessel
    is ruled out (if the match is wrong, the hull is not the transponder's vessel)."""
    reg = registry_vessel(ais, registry)
    name = ais_name(ais, reg)
    p = ais.probability
    same = next((c for c in ident.candidates if c.name == name), None)
    rest = 1.0 - (same.probability if same else 0.0)
    scale = (1.0 - p) / rest if rest > 1e-12 else 0.0
    named = Candidate(
        name=name,
        imo=(reg.imo if reg else None) or ais.imo,
        probability=p,
        length_m=(reg.length_m if reg else None) or ais.length_m,
        beam_m=(reg.beam_m if reg else None) or ais.beam_m,
        dwt=reg.dwt if reg else None,
        product=reg.product if reg else None,
    )
    others = [
        dataclasses.replace(c, probability=c.probability * scale)
        for c in ident.candidates
        if c.name != name
    ]
    others.sort(key=lambda c: (-c.probability, c.name))
    return Identification(
        [named, *others], ident.p_unidentified * scale, ident.threshold, ident.unmatchable
    )


def apply_ais(
    deliveries: list[Delivery],
    identities: dict[str, VisitAis],
    registry: list[Vessel],
    threshold: float = THRESHOLD,
) -> list[Delivery]:
    out = []
    for d in deliveries:
        ais = identities.get(d.load_visit)
        if ais is None:
            out.append(d)
            continue
        if not named_by_ais(ais, threshold):
            out.append(dataclasses.replace(d, dark=ais.dark, ais_mmsi=None))
            continue
        reg = registry_vessel(ais, registry)
        name = ais_name(ais, reg)
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
