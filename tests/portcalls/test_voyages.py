"""Voyage linking: a load at Vostochny to a later discharge in the DPRK ports, same-sized hull."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pipeline.portcalls import link_voyages
from pipeline.records import Visit

T = datetime(2024, 5, 1, tzinfo=UTC)


def visit(port, hours, length=90.0, beam=15.0, role=None, dwell=24.0):
    role = role or ("load" if port == "vostochny" else "discharge")
    return Visit(
        port=port,
        berth="oil-1",
        vessel_key=f"L{length:.0f}",
        first_seen=T + timedelta(hours=hours),
        last_seen=T + timedelta(hours=hours + dwell),
        arrived_after=None,
        departed_before=None,
        n_obs=2,
        length_m=length,
        beam_m=beam,
        role=role,
        length_sigma_m=4.0,
        beam_sigma_m=2.0,
    )


def test_links_each_discharge_port_inside_its_window(params):
    load_r, load_c, load_n = visit("vostochny", 0), visit("vostochny", 300), visit("vostochny", 600)
    rajin = visit("rajin", 24 + 24)  # 1 day after leaving
    chongjin = visit("chongjin", 300 + 24 + 36)  # 1.5 days
    nampo = visit("nampo", 600 + 24 + 7 * 24)  # 7 days
    links = link_voyages([load_r, load_c, load_n, rajin, chongjin, nampo], params)
    pairs = {(v.load_visit, v.discharge_visit) for v in links}
    assert pairs == {(load_r.id, rajin.id), (load_c.id, chongjin.id), (load_n.id, nampo.id)}
    nampo_link = next(v for v in links if v.discharge_port == "nampo")
    assert nampo_link.transit_h == 7 * 24


def test_outside_window_or_other_size_stays_unlinked(params):
    load = visit("vostochny", 0)
    before = visit("rajin", -48)  # discharge before the load
    too_late = visit("rajin", 24 + 30 * 24)
    nampo_too_soon = visit("nampo", 24 + 36)  # cannot sail round Korea in 1.5 days
    other_hull = visit("chongjin", 24 + 30, length=140, beam=22)
    assert link_voyages([load, before, too_late, nampo_too_soon, other_hull], params) == []


def test_each_visit_in_one_voyage_at_most(params):
    a = visit("vostochny", 0, length=90)
    b = visit("vostochny", 30, length=91)
    r = visit("rajin", 80, length=90)
    links = link_voyages([a, b, r], params)
    assert len(links) == 1
    assert links[0].discharge_visit == r.id


def test_size_match_wins_over_time(params):
    small = visit("vostochny", 0, length=60, beam=10)
    big = visit("vostochny", 2, length=110, beam=18)
    r_big = visit("rajin", 50, length=108, beam=18)
    r_small = visit("rajin", 60, length=61, beam=10)
    links = {
        v.load_visit: v.discharge_visit for v in link_voyages([small, big, r_big, r_small], params)
    }
    assert links == {small.id: r_small.id, big.id: r_big.id}


# ------------------------------------------------------------------------------- with AIS
def _berth(port: str) -> tuple[float, float]:
    from pipeline.config import load_port

    c = load_port(port).berth("oil-1").shape.centroid
    return c.y, c.x


def _track(mmsi: int, legs: list[tuple[float, float, float, float, float]]):
    """legs: (from hour, to hour, lat, lon, sog): a report every 30 min."""
    import pandas as pd

    rows = []
    for h0, h1, lat, lon, sog in legs:
        h = h0
        while h <= h1:
            rows.append((mmsi, T + timedelta(hours=h), lat, lon, sog, 0.0))
            h += 0.5
    return pd.DataFrame(rows, columns=["mmsi", "time", "lat", "lon", "sog", "cog"])


def _named(vid: str, mmsi: int | None, alibis=()):
    from pipeline.portcalls.ais import VisitAis

    return VisitAis(vid, mmsi, 0.0 if mmsi is None else 0.9, evidence=2, alibis=list(alibis))


def test_ais_track_links_the_discharge_the_transponder_went_to(params):
    load = visit("vostochny", 0)  # last seen at hour 24
    fits = visit("rajin", 48)  # the size and the earlier time favour this one
    went = visit("rajin", 80, length=120, beam=20)  # but the transponder went here
    rlat, rlon = _berth("rajin")
    track = _track(111, [(25, 79, 42.0, 131.5, 9.0), (80, 100, rlat, rlon, 0.1)])
    ais = {load.id: _named(load.id, 111)}
    (link,) = link_voyages([load, fits, went], params, ais=ais, positions=track)
    assert (link.discharge_visit, link.source, link.mmsi) == (went.id, "ais-track", 111)
    assert link.transit_h == 80 - 24 and link.discharge is None
    # without AIS: size and time
    (link,) = link_voyages([load, fits, went], params)
    assert (link.discharge_visit, link.source) == (fits.id, "size")


def test_a_discharge_call_no_image_saw_is_filled_from_the_track(params):
    from pipeline.portcalls.voyages import ais_discharge_visits

    load = visit("vostochny", 0)
    clat, clon = _berth("chongjin")
    track = _track(
        111, [(25, 59, 41.5, 130.5, 9.0), (60, 80, clat, clon, 0.2), (81, 90, 41, 130, 9)]
    )
    links = link_voyages([load], params, ais={load.id: _named(load.id, 111)}, positions=track)
    (link,) = links
    (call,) = ais_discharge_visits(links)
    assert link.discharge_visit == call.id and link.discharge_port == "chongjin"
    assert (call.port, call.berth, call.role, call.n_obs, call.evidence) == (
        "chongjin", "oil-1", "discharge", 0, []
    )  # fmt: skip
    assert call.first_seen == T + timedelta(hours=60) and call.last_seen == T + timedelta(hours=80)
    assert call.vessel_key == "ais:111" and call.length_m == load.length_m
    # still at the load berth for a while after the last image: the same call, then Chongjin
    vlat, vlon = _berth("vostochny")
    slow = _track(111, [(24.5, 30, vlat, vlon, 0), (31, 59, 42, 131, 9), (60, 80, clat, clon, 0)])
    (link,) = link_voyages([load], params, ais={load.id: _named(load.id, 111)}, positions=slow)
    assert link.discharge_port == "chongjin"
    # a stay outside the window (Chongjin: 14-120 h) links nothing
    late = _track(111, [(25, 200, 41.5, 130.5, 9.0), (201, 220, clat, clon, 0.2)])
    assert link_voyages([load], params, ais={load.id: _named(load.id, 111)}, positions=late) == []
    # back at the load berth first: that is the next load, not a discharge
    back = _track(111, [(24.5, 26, vlat, vlon, 0), (27, 30, 42, 131, 9), (31, 40, vlat, vlon, 0),
                        (41, 59, 42, 131, 9), (60, 80, clat, clon, 0)])  # fmt: skip
    assert link_voyages([load], params, ais={load.id: _named(load.id, 111)}, positions=back) == []


def test_same_transponder_links_without_a_track_and_different_ones_never(params):
    load, dis = visit("vostochny", 0), visit("rajin", 48)
    (link,) = link_voyages([load, dis], params, ais={load.id: _named(load.id, 222),
                                                     dis.id: _named(dis.id, 222)})  # fmt: skip
    assert (link.source, link.mmsi, link.discharge_visit) == ("ais-name", 222, dis.id)
    two = {load.id: _named(load.id, 333), dis.id: _named(dis.id, 444)}
    assert link_voyages([load, dis], params, ais=two) == []  # same size, other vessels


def test_a_dark_load_is_not_linked_to_a_vessel_with_an_alibi(params):
    from pipeline.portcalls.ais import Alibi

    load, dis = visit("vostochny", 0), visit("rajin", 48)
    elsewhere = Alibi(555, "2024-05-01T12:00:00Z", 150_000.0)
    ais = {load.id: _named(load.id, None, [elsewhere]), dis.id: _named(dis.id, 555)}
    assert link_voyages([load, dis], params, ais=ais) == []
    spoofy = Alibi(555, "2024-05-01T12:00:00Z", 60_000.0, suspect=True)
    ais[load.id] = _named(load.id, None, [spoofy])
    (link,) = link_voyages([load, dis], params, ais=ais)
    assert link.source == "size"


def test_one_call_seen_as_two_load_visits_closes_one_voyage(params):
    """A call split into two load visits, both named by the transponder, before one discharge
    stay no image saw: one voyage (from the later visit, the one that sailed) and one discharge
    call, not two calls with one id (the ledger refused the run: UNIQUE visits.run_id, id)."""
    from pipeline.portcalls.voyages import ais_discharge_visits

    first = visit("vostochny", 0, dwell=10)  # last seen at hour 10
    second = visit("vostochny", 20, dwell=4)  # the same hull, last seen at hour 24
    clat, clon = _berth("chongjin")
    track = _track(
        111, [(25, 59, 41.5, 130.5, 9.0), (60, 80, clat, clon, 0.2), (81, 90, 41, 130, 9)]
    )
    ais = {first.id: _named(first.id, 111), second.id: _named(second.id, 111)}
    links = link_voyages([first, second], params, ais=ais, positions=track)
    (link,) = links
    (call,) = ais_discharge_visits(links)
    assert link.load_visit == second.id and link.discharge_visit == call.id
    assert link.transit_h == 60 - 24 and link.id == type(link)(second.id, call.id, "", 0, 0).id
    # and with an image of that discharge: it is taken once, by the later visit
    seen = visit("chongjin", 60, dwell=20)
    links = link_voyages([first, second, seen], params, ais=ais, positions=track)
    assert [(v.load_visit, v.discharge_visit) for v in links] == [(second.id, seen.id)]
