"""Where along the berth a hull lies: evidence of one hull or two across a visit's gaps (#13).

A tanker moored at a berth does not move along it for its stay, while the next call lies where
its own manifold meets the loading arm, metres to tens of metres away. So two sightings a visit
joins across a gap (nothing seen between them) that lie at the same place along the berth are
more likely one hull than their sizes alone say, and two that lie apart more likely two calls.

Both spreads are measured on the season's own load visits, so that real imagery (its
geolocation between passes, its detector's centroids) sets them rather than an assumption:
- the spread of calls: the robust spread of the visits' mean positions at the berth;
- the scatter of one hull: the differences between consecutive sightings within a visit, per
  pair of sensors (two sensors' centroids of one hull differ more than one sensor's: on the
  simulated chain a Sentinel-2 and a 3 m sighting of one stay differ by ~7 m sd, two 3 m ones by
  ~0.5 m), some of which are changeovers (a mixture fit: ``same_hull_scatter``).
The odds of two hulls against one for a difference d is then
N(d; 0, sqrt(s_same^2 + 2 s_calls^2)) / N(d; 0, s_same); none where too few pairs or visits
measured the spreads.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

MIN_PAIRS = 5  # consecutive sightings within visits, per pair of sensors, to measure the scatter
MIN_VISITS = 4  # visits at a berth, to measure the calls' spread
# one hull's scatter is taken as at least this share of the sensor's pixel: a few pairs can fit
# it near zero, and then any difference of a pixel would read as a changeover
MIN_SCATTER_GSD = 0.5
ROBUST = 0.6745  # median |x| of a standard normal


@dataclass
class PositionModel:
    """The measured spreads: one hull's scatter between consecutive sightings, per pair of
    sensors (the sd of the difference), and the calls' spread along each berth (sd of a call's
    position)."""

    same_sd: dict[tuple[str, str], float] = field(default_factory=dict)
    same_pairs: dict[tuple[str, str], int] = field(default_factory=dict)
    calls_sd: dict[str, float] = field(default_factory=dict)
    calls_visits: dict[str, int] = field(default_factory=dict)

    def odds(self, berth: str, sensor_a: str, sensor_b: str, difference_m: float) -> float:
        """Two hulls against one for sightings ``difference_m`` apart along ``berth`` (1.0:
        the position says nothing)."""
        pair = sensor_pair(sensor_a, sensor_b)
        if pair not in self.same_sd or berth not in self.calls_sd:
            return 1.0
        s1 = self.same_sd[pair]
        s2 = float(np.hypot(s1, np.sqrt(2.0) * self.calls_sd[berth]))
        z1, z2 = difference_m / s1, difference_m / s2
        return float(np.exp(-0.5 * (z2 * z2 - z1 * z1)) * s1 / s2)

    def note(self, port: str) -> str | None:
        if not self.same_sd or not self.calls_sd:
            return None
        same = ", ".join(
            f"{'/'.join(dict.fromkeys(k))} {v:.1f} m ({self.same_pairs[k]} pairs)"
            for k, v in sorted(self.same_sd.items())
        )
        calls = ", ".join(
            f"{b} {v:.0f} m ({self.calls_visits[b]} visits)"
            for b, v in sorted(self.calls_sd.items())
        )
        return (
            f"{port}: where along the berth a hull lies weighs whether a gap holds a changeover: "
            f"one hull's consecutive sightings differ by {same} (sd, changeovers set apart); "
            f"calls lie {calls} apart (robust sd of the visits' positions), both measured on "
            f"these visits"
        )


def sensor_pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


def sighting_positions(visits, detections, ports, margin_m: float) -> dict[str, float]:
    """Detection id -> its position along the berth of the load visit it is evidence of."""
    from pipeline.portcalls.berths import BerthIndex

    index = BerthIndex(ports, margin_m)
    by_id = {d.id: d for d in detections}
    out: dict[str, float] = {}
    for v in visits:
        if v.role != "load" or not index.has_port(v.port):
            continue
        for e in v.evidence:
            det = by_id.get(e)
            hit = index.locate(det, v.port) if det is not None else None
            if hit is not None and hit.berth == v.berth:
                out[e] = hit.along_m
    return out


def visit_track(v, scene_at, positions) -> list[tuple[float, str, float]]:
    """(hours, sensor, mean position) per scene of a visit's located sightings, in time order."""
    at: dict[float, tuple[str, list[float]]] = {}
    for k, s in enumerate(v.sightings):
        det = v.evidence[k] if k < len(v.evidence) else None
        if s not in scene_at or det not in positions:
            continue
        t, sensor = scene_at[s]
        at.setdefault(t, (sensor, []))[1].append(positions[det])
    return [(t, sensor, float(np.mean(xs))) for t, (sensor, xs) in sorted(at.items())]


def fit_position_model(
    visits, scene_at, positions, gsd_m: dict, tolerance_m: float
) -> PositionModel:
    """The spreads measured on ``visits`` (one port's load visits); ``gsd_m``: each sensor's
    pixel; ``tolerance_m``: how far apart along the berth port calls still join two sightings
    (plus the pixel)."""
    diffs: dict[str, list[float]] = {}
    means: dict[str, list[float]] = {}
    for v in visits:
        track = visit_track(v, scene_at, positions)
        if not track:
            continue
        means.setdefault(v.berth, []).append(float(np.mean([x for _, _, x in track])))
        for (_, sa, xa), (_, sb, xb) in zip(track[:-1], track[1:], strict=True):
            diffs.setdefault(sensor_pair(sa, sb), []).append(xb - xa)
    model = PositionModel()
    for berth, m in means.items():
        if len(m) >= MIN_VISITS:
            x = np.asarray(m)
            model.calls_sd[berth] = float(np.median(np.abs(x - np.median(x)))) / ROBUST
            model.calls_visits[berth] = len(m)
    if not model.calls_sd:
        return model
    calls = float(np.median(list(model.calls_sd.values())))
    for pair, d in diffs.items():
        if len(d) >= MIN_PAIRS:
            g = max(gsd_m.get(x, 10.0) for x in pair)
            model.same_sd[pair] = same_hull_scatter(
                np.asarray(d), calls, tolerance_m + g, MIN_SCATTER_GSD * g
            )
            model.same_pairs[pair] = len(d)
    return model


def same_hull_scatter(d: np.ndarray, calls_sd: float, tolerance_m: float, floor_m: float) -> float:
    """The sd of one hull's consecutive-sighting differences ``d``, some of which are
    changeovers (two calls joined): a two-part normal mixture, one hull N(0, s) and two calls
    N(0, sqrt(s^2 + 2 calls_sd^2)), both cut at +-``tolerance_m`` (port calls join sightings
    only that close along the berth), fitted by maximum likelihood over s and the changeovers'
    share, no less than ``floor_m``. At a busy berth half the pairs can be changeovers, where a
    median would measure them instead."""
    from scipy.stats import norm

    a = np.abs(np.asarray(d, dtype=float))[None, None, :]
    top = max(tolerance_m, float(a.max()) + 1e-6)
    s = np.geomspace(floor_m, max(top, 2 * floor_m), 60)[:, None, None]
    share = np.linspace(0.0, 0.95, 39)[None, :, None]
    wide = np.hypot(s, np.sqrt(2.0) * calls_sd)

    def cut(sd):  # the density of |d| under N(0, sd), cut at the tolerance
        return 2 * norm.pdf(a / sd) / sd / (2 * norm.cdf(top / sd) - 1)

    loglik = np.log((1 - share) * cut(s) + share * cut(wide) + 1e-300).sum(axis=2)
    i, _ = np.unravel_index(int(np.argmax(loglik)), loglik.shape)
    return float(s[i, 0, 0])
