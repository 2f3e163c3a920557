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
