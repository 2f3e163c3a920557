"""UNSCR 2397 caps: cumulative barrels per calendar year and product class, and the date passed.

Cumulative sums run over the observed deliveries in loading order (the last sighting at the load
berth), under each scenario: the Monte Carlo P50 and the published 1/3, 1/2 and 90 % shares. The
date is when the observed deliveries alone passed the cap: calls the images missed could only make
the true date earlier.
"""

from __future__ import annotations

from datetime import datetime

from pipeline.estimate.params import CapsParams
from pipeline.records import Delivery, iso

SCENARIO_FIELDS = {"p50": "barrels_p50", "33": "barrels_33", "50": "barrels_50", "90": "barrels_90"}


def cap_rows(
    deliveries: list[Delivery], load_times: dict[str, datetime], params: CapsParams
) -> list[dict]:
    """One row per year x product class x scenario; ``load_times``: delivery id -> load time."""
    caps = {"refined": params.refined_bbl, "crude": params.crude_bbl}
    years = sorted({load_times[d.id].year for d in deliveries})
    rows = []
    for year in years:
        for cls, cap in caps.items():
            mine = sorted(
                (d for d in deliveries if load_times[d.id].year == year and d.product == cls),
                key=lambda d: (load_times[d.id], d.id),
            )
            for scen, fld in SCENARIO_FIELDS.items():
                total, passed = 0.0, None
                for d in mine:
                    total += getattr(d, fld)
                    if passed is None and total >= cap:
                        passed = load_times[d.id]
                rows.append(
                    {
                        "year": year,
                        "product_class": cls,
                        "cap_bbl": int(cap) if float(cap).is_integer() else cap,
                        "scenario": scen,
                        "cumulative_bbl": round(total, 1),
                        "cap_passed_utc": iso(passed),
                    }
                )
    return rows
