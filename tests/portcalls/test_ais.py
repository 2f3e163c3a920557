"""Detections matched to AIS tracks: interpolation and its gate, one-to-one pairing by position
and size, probabilities that fall when pairings are ambiguous, dark hulls, spoofing events."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from pipeline.portcalls.ais import AisMatchParams, match_ais, positions_at
from portcalls.builders import T0, Builder

P = AisMatchParams()


def track(mmsi, points, sog=0.0, cog=np.nan):
    """points: (minutes after T0, lat, lon)."""
    return pd.DataFrame(
        {
            "mmsi": mmsi,
            "time": [pd.Timestamp(T0) + pd.Timedelta(minutes=m) for m, _, _ in points],
            "lat": [la for _, la, _ in points],
            "lon": [lo for _, _, lo in points],
            "sog": sog,
            "cog": cog,
            "heading": np.nan,
        }
    )


def static(rows):
    return pd.DataFrame(
        [
            {"mmsi": m, "name": n, "imo": i, "length_m": length, "width_m": beam}
            for m, n, i, length, beam in rows
        ]
    )


def test_positions_interpolated_carried_forward_and_gated():
    a = track(1, [(-10, 42.0, 133.0), (10, 42.0 + 0.002, 133.0)])  # interpolated
    b = track(2, [(-60, 42.0, 133.0)], sog=10.0, cog=0.0)  # 1 h old, 10 kn due north
    c = track(3, [(-5 * 60, 42.0, 133.0)])  # silent for 5 h: no position
    d = track(4, [(-20 * 60, 42.0, 133.0), (20 * 60, 42.1, 133.0)])  # gap too long
    got = positions_at(pd.concat([d, c, b, a]), pd.Timestamp(T0), P).set_index("mmsi")
    assert sorted(got.index) == [1, 2]
    assert got.loc[1, "lat"] == pytest.approx(42.001)
    assert got.loc[1, "age_s"] == 600 and got.loc[1, "sigma_m"] == P.position_sigma_m
    run_m = 10 * 0.514444 * 3600
    assert got.loc[2, "lat"] == pytest.approx(42.0 + run_m / 110_540.0)
    assert got.loc[2, "sigma_m"] == pytest.approx(P.position_sigma_m + P.drift_sigma * run_m)


def _at(det):
    return det.lat, det.lon


def test_each_hull_gets_its_own_transponder_and_unknown_hulls_are_dark():
    b = Builder()
    s = b.scene(0)
    big = b.vessel(s, 230, 42, berth="oil-1", measured=True)
    small = b.vessel(s, 120, 20, berth="coal-1", measured=True)
    dark = b.vessel(s, 180, 32, berth="oil-1", along=250, offset_m=120, measured=True)
    la, lo = _at(big)
    sa, so = _at(small)
    positions = pd.concat(
        [
            # reports 10 minutes either side, ~30 m off the hull centre
            track(111, [(-10, la + 0.0003, lo), (10, la - 0.0002, lo)]),
            track(222, [(-3, sa, so + 0.0002), (7, sa, so + 0.0003)]),
            track(333, [(-400, la, lo)]),  # was here, silent since: no position now
        ]
    )
    st = static([(111, "BIG", "9000001", 229, 42), (222, "SMALL", "9000002", 121, 20)])
    result = match_ais(b.detections, b.scenes, b.observations, b.ports, positions, st)
    got = result.by_detection()
    assert got[big.id].mmsi == 111 and got[big.id].probability > 0.9
    assert got[small.id].mmsi == 222 and got[small.id].probability > 0.9
    assert got[dark.id].dark and got[dark.id].probability == 0.0
    assert result.spoofing == []


def test_size_breaks_a_tie_of_positions():
    b = Builder()
    s = b.scene(0)
    det = b.vessel(s, 240, 44, berth="oil-1", measured=True)
    la, lo = _at(det)
    both = pd.concat([track(1, [(0, la + 0.0004, lo)]), track(2, [(0, la - 0.0004, lo)])])
    sized = static([(1, "A", None, 240, 44), (2, "B", None, 110, 18)])
    (m,) = match_ais(b.detections, b.scenes, b.observations, b.ports, both, sized).matches
    assert m.mmsi == 1 and m.probability > 0.9
    # the same hulls' sizes unknown: a coin toss, and the probability says so
    (m,) = match_ais(b.detections, b.scenes, b.observations, b.ports, both, None).matches
    assert m.mmsi in (1, 2) and m.probability < 0.5


def test_transponder_at_a_clear_berth_without_a_hull_is_possible_spoofing():
    b = Builder()
    clear = b.scene(0)
    cloudy = b.scene(24, state="obscured")
    anchor = b.vessel(clear, 200, 36, berth="coal-1", measured=True)
    b.detections.remove(anchor)  # only its position is wanted: no hull in either image
    la, lo = _at(anchor)
    pos = track(555, [(0, la, lo), (24 * 60, la, lo)])
    result = match_ais(b.detections, b.scenes, b.observations, b.ports, pos, None)
    (event,) = result.spoofing
    assert (event.scene_id, event.mmsi, event.nearest_detection_m) == (clear.id, 555, None)
    assert event.time == T0.strftime("%Y-%m-%dT%H:%M:%SZ")
    # far outside the port: not in the image, no event
    far = track(556, [(0, la + 1.0, lo)])
    assert match_ais([], b.scenes, b.observations, b.ports, far, None).spoofing == []
    assert cloudy.id not in {e.scene_id for e in result.spoofing}
    assert T0 + timedelta(hours=24) == cloudy.acquired


def test_alibis_confirmed_reported_and_suspect():
    from pipeline.portcalls.ais import add_alibis, visits_by_ais

    b = Builder(ports=("vostochny", "rajin"))
    s0, s24 = b.scene(0), b.scene(24)
    hull = [b.vessel(s, 110, 18, berth="oil-1", measured=True) for s in (s0, s24)]
    elsewhere = b.vessel(b.scene(12, port="rajin"), 100, 16, berth="oil-1", measured=True)
    la, lo = _at(hull[0])
    ra, ro = _at(elsewhere)
    minutes = [-10, 10, 24 * 60 - 10, 24 * 60 + 10]
    positions = pd.concat(
        [
            track(777, [(m, ra, ro) for m in (12 * 60 - 5, 12 * 60 + 5)]),  # seen at Rajin
            track(888, [(m, ra + 0.003, ro) for m in minutes]),  # says Rajin, no image there
            track(999, [(m, la - 0.55, lo) for m in minutes], sog=0.3),  # parked 60 km out
            track(555, [(m, la - 0.55, lo + m / 600) for m in minutes], sog=10.0, cog=90.0),
            track(444, [(m, la + 0.009, lo) for m in minutes]),  # 1 km off: not elsewhere
            track(321, [(m, ra + 0.3, ro) for m in (12 * 60 - 5, 12 * 60 + 5)], sog=9.0),
        ]
    )
    st = static([(777, "SEEN", "1", 100, 16), (888, "SAYS", "2", 110, 18)])
    result = match_ais(b.detections, b.scenes, b.observations, b.ports, positions, st)
    visits = b.build()
    ids = visits_by_ais(visits, result, st)
    (load,) = [v for v in visits if v.port == "vostochny"]
    (dis,) = [v for v in visits if v.port == "rajin"]
    assert load.id in ids and ids[load.id].dark and ids[dis.id].mmsi == 777
    add_alibis(ids, visits, result, b.detections, b.scenes, b.ports, positions, st)
    got = {a.mmsi: a for a in ids[load.id].alibis}
    assert set(got) == {777, 888, 999, 555}
    assert got[777].confirmed and not got[777].suspect and got[777].name == "SEEN"
    assert got[777].distance_m > 100_000
    assert not got[888].confirmed and not got[888].suspect and got[888].imo == "2"
    assert got[999].suspect and not got[999].confirmed  # stationary far out at sea: spoofing?
    assert not got[555].suspect  # under way at sea: a real alibi
    # hiding while the hull was seen: the spoofer 999 (heard at 2 of the 3 image times); 321
    # reported only around the Rajin image, so the data do not cover it at the sightings: its
    # silence there is no evidence (nor does it count in the base rate)
    quiet = {q.mmsi: q.share for q in ids[load.id].silent}
    assert quiet == {999: round(1 / 3, 4)}
    p_anywhere = AisMatchParams(silence_in_span=False)  # the rule before: silence anywhere
    ids3 = visits_by_ais(visits, result, st)
    add_alibis(ids3, visits, result, b.detections, b.scenes, b.ports, positions, st, p_anywhere)
    quiet = {q.mmsi: q.share for q in ids3[load.id].silent}
    assert quiet == {321: round(2 / 3, 4), 999: round(1 / 3, 4)}
    # the Rajin hull's own transponder is no alibi for itself, and at the Rajin image every
    # other report but 321's (under way 33 km off) is 12 h old or more (no position)
    assert [(a.mmsi, a.suspect) for a in ids[dis.id].alibis] == [(321, False)]
    # no positions: no reported alibis, the image-confirmed one stays
    ids2 = visits_by_ais(visits, result, st)
    add_alibis(ids2, visits, result, b.detections, b.scenes, b.ports, positions.iloc[:0], st)
    assert [a.mmsi for a in ids2[load.id].alibis] == [777]


def test_an_alibi_at_one_end_of_a_visit_its_transponder_hid_through_is_no_alibi():
    """A visit's sightings may be two calls at the berth (a clear image that missed the berth
    empty is bridged): a transponder elsewhere only at the first sighting, then hiding (silent,
    or a spoofing-like position) at the rest, is the pattern of the later call's vessel going
    dark for it, not an alibi. Seen elsewhere at most sightings, or in the middle of its
    hiding, it stays an alibi."""
    from pipeline.estimate.ais import alibi_factors
    from pipeline.portcalls.ais import add_alibis, visits_by_ais

    b = Builder()
    scenes = [b.scene(h) for h in (0, 24, 48)]
    for s in scenes:
        b.vessel(s, 110, 18, berth="oil-1", measured=True)
    (visit,) = b.build()
    la, lo = _at(b.detections[0])
    H = 60

    def spoof(mmsi, hours):  # parked 60 km out at sea around these sightings
        return track(mmsi, [(h * H + m, la - 0.55, lo) for h in hours for m in (-10, 10)], 0.3)

    def away(mmsi, hours):  # under way 30 km off around these sightings
        pts = [(h * H + m, la - 0.27, lo + (h * H + m) / 600) for h in hours for m in (-10, 10)]
        return track(mmsi, pts, sog=10.0, cog=90.0)

    def anchored(mmsi, hours):  # at the anchorage 11 km off
        return track(mmsi, [(h * H + m, la - 0.1, lo) for h in hours for m in (-10, 10)])

    positions = pd.concat(
        [
            anchored(600, [0]),  # waits at the anchorage, then spoofs through its call
            spoof(600, [24, 48]),
            away(601, [0, 24, 48]),  # elsewhere all along
            away(602, [24, 48]),  # silent at the first sighting (reports bracket it) only
            track(602, [(-8 * H, la - 0.27, lo)], sog=10.0, cog=90.0),
            spoof(603, [0, 48]),  # elsewhere in the middle of its hiding
            away(603, [24]),
            away(604, [0]),  # elsewhere at the first sighting, silent at the second: a tie
            track(604, [(48 * H + m, la + 0.009, lo) for m in (-10, 10)]),  # 1 km off: neither
            away(605, [96]),  # first heard after the visit: the data do not cover it
        ]
    )
    names = [(600, "LATE", "600", 110, 18), (601, "AWAY", "601", 110, 18),
             (602, "LEFT", "602", 110, 18), (603, "BACK", "603", 110, 18),
             (604, "TIE", "604", 110, 18), (605, "NEW", "605", 110, 18)]  # fmt: skip
    st = static(names)
    result = match_ais(b.detections, b.scenes, b.observations, b.ports, positions, st)
    ids = visits_by_ais([visit], result, st)
    assert ids[visit.id].dark
    add_alibis(ids, [visit], result, b.detections, b.scenes, b.ports, positions, st)
    got = {a.mmsi: a for a in ids[visit.id].alibis}
    assert got[600].edge and not got[600].suspect  # anchored at the first sighting
    assert got[600].time == scenes[0].acquired.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert not got[601].edge and not got[602].edge and not got[603].edge
    assert got[604].edge  # as often elsewhere as hiding: neither an alibi nor silence
    assert 605 not in got
    assert {q.mmsi for q in ids[visit.id].silent} == {600}
    from pipeline.config import Vessel

    registry = [Vessel(name=n, length_m=L, beam_m=B, source="t") for _, n, _, L, B in names]
    f = alibi_factors(ids[visit.id], registry, 0.1, 3.0)
    assert f == {"LATE": 3.0, "AWAY": 0.1, "LEFT": 0.1, "BACK": 0.1}
