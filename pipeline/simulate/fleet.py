"""Fleet completion: registry rows with empty dimensions get plausible simulated ones.

The scenario's tankers are small product tankers (about 1,000-9,000 dwt, most at the low end).
A missing dwt is drawn from a log-normal around the scenario's median, truncated to its range;
missing length and beam follow from dwt (coastal product-tanker regression, +-5 %). Every
invented cell is named in the row's ``source`` ("simulated: dwt, length_m, beam_m"), and IMO
numbers are never invented.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from pipeline.config import Vessel
from pipeline.records import stable_id
from pipeline.simulate.vessels import tanker_dims_from_dwt


@dataclass
class FleetVessel:
    name: str
    imo: str | None
    flag: str | None
    length_m: float
    beam_m: float
    dwt: float
    product: str | None
    source: str
    simulated: tuple[str, ...]
    deck: str
    freeboard_m: float
    super_height_m: float

    def row(self) -> dict[str, str]:
        return {
            "name": self.name,
            "imo": self.imo or "",
            "flag": self.flag or "",
            "length_m": f"{self.length_m:.1f}",
            "beam_m": f"{self.beam_m:.1f}",
            "dwt": f"{self.dwt:.0f}",
            "product": self.product or "",
            "source": self.source,
        }

    def as_registry(self) -> Vessel:
        """The registry row a user of this scenario would hold (simulated cells marked in
        ``source``), for identification against the simulated fleet."""
        return Vessel(
            name=self.name,
            imo=self.imo,
            flag=self.flag,
            length_m=self.length_m,
            beam_m=self.beam_m,
            dwt=self.dwt,
            product=self.product,
            source=self.source,
        )


def complete_fleet(
    registry: list[Vessel],
    names: list[str],
    dwt_min: float,
    dwt_max: float,
    dwt_median: float,
    seed: int,
) -> list[FleetVessel]:
    """The scenario's vessels (``names``, or the whole registry) with dimensions completed.

    Each vessel's draws depend only on the seed and its name, so adding a vessel to the
    registry does not change the others.
    """
    chosen = [v for v in registry if not names or v.name in names]
    out = []
    for v in chosen:
        rng = np.random.default_rng(int(stable_id("fleet", seed, v.name), 16) % 2**63)
        simulated = []
        dwt = v.dwt
        if dwt is None:
            for _ in range(100):
                dwt = float(math.exp(rng.normal(math.log(dwt_median), 0.55)))
                if dwt_min <= dwt <= dwt_max:
                    break
            dwt = float(np.clip(round(dwt / 10) * 10, dwt_min, dwt_max))
            simulated.append("dwt")
        L_fit, B_fit = tanker_dims_from_dwt(dwt)
        length = v.length_m
        if length is None:
            length = round(L_fit * float(rng.uniform(0.95, 1.05)), 1)
            simulated.append("length_m")
        beam = v.beam_m
        if beam is None:
            beam = round(B_fit * float(rng.uniform(0.95, 1.05)) * length / L_fit, 1)
            simulated.append("beam_m")
        source = v.source
        if simulated:
            source = f"{source}; simulated: {', '.join(simulated)}"
        deck = str(rng.choice(["deck_red", "deck_green", "deck_grey", "deck_rust", "deck_red"]))
        out.append(
            FleetVessel(
                name=v.name,
                imo=v.imo,
                flag=v.flag,
                length_m=float(length),
                beam_m=float(beam),
                dwt=float(dwt),
                product=v.product,
                source=source,
                simulated=tuple(simulated),
                deck=deck,
                freeboard_m=2.0 + length / 60,
                super_height_m=8.0 + length / 25,
            )
        )
    return out
