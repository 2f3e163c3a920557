"""A small tanker's draught and its cargo: the displacement of a wall-sided hull.

A hull floats at the draught T where it displaces its weight: displacement (t) = rho x Cb x L x
B x T, rho = 1.025 t/m3 of sea water, Cb the block coefficient. At its summer draught it carries
its deadweight: displacement = dwt / Cd, Cd the deadweight coefficient (dwt over full-load
displacement), so the light ship weighs dwt x (1 - Cd) / Cd. Any other state weighs light ship +
what is aboard (cargo, ballast water, fuel and stores), so

    cargo (t) = rho x Cb x L x B x T - dwt x ((1 - Cd) / Cd + consumables share)

for a hull leaving a load berth with its ballast pumped out. Wall-sided: the waterplane is taken
as the same at every draught (true within a few per cent over a small tanker's working range).
The simulator writes draughts with it; the estimate reads a tanker's reported departure draught
back into cargo with it, Cb and Cd drawn from their ranges.
"""

from __future__ import annotations

import numpy as np

SEA_WATER_T_M3 = 1.025


def displacement_t(length_m, beam_m, draught_m, cb):
    return SEA_WATER_T_M3 * np.asarray(cb) * length_m * beam_m * draught_m


def light_ship_t(dwt, cd):
    cd = np.asarray(cd, dtype=float)
    return np.asarray(dwt) * (1.0 - cd) / cd


def draught_m(length_m, beam_m, dwt, cb, cd, aboard_t):
    """Draught of a hull with ``aboard_t`` tonnes aboard (cargo, ballast, fuel and stores)."""
    weight = light_ship_t(dwt, cd) + np.asarray(aboard_t)
    return weight / (SEA_WATER_T_M3 * np.asarray(cb) * length_m * beam_m)


def cargo_t(length_m, beam_m, draught, dwt, cb, cd, consumables_share):
    """Cargo aboard a hull floating at ``draught`` (ballast pumped out): displacement less
    light ship less fuel and stores (``consumables_share`` of dwt). Not clipped."""
    return displacement_t(length_m, beam_m, draught, cb) - np.asarray(dwt) * (
        (1.0 - np.asarray(cd)) / np.asarray(cd) + np.asarray(consumables_share)
    )
