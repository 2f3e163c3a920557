"""Stays at berths from AIS tracks: only complete stays, at the berths of the roles asked for."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from pipeline.config import load_port
from pipeline.portcalls.ais_stays import berth_stays, track_stays

T = datetime(2024, 5, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def vostochny():
    return load_port("vostochny")


def _at(port, berth: str) -> tuple[float, float]:
    c = port.berth(berth).shape.centroid
    return c.y, c.x


def _track(mmsi: int, legs, every_h: float = 0.05) -> pd.DataFrame:
    """legs: (from hour, to hour, lat, lon, sog), a report every ``every_h`` hours (3 min)."""
    rows = []
    for h0, h1, lat, lon, sog in legs:
        n = int(round((h1 - h0) / every_h))
        for i in range(n + 1):
            rows.append((mmsi, T + timedelta(hours=h0 + i * every_h), lat, lon, sog))
    return pd.DataFrame(rows, columns=["mmsi", "time", "lat", "lon", "sog"])


def _call(mmsi, port, arrive_h, stay_h, berth="oil-1"):
    """Under way 20 km off, then moored at the berth for ``stay_h``, then under way again."""
    lat, lon = _at(port, berth)
    return _track(
        mmsi,
        [
            (arrive_h - 1.0, arrive_h - 0.05, lat - 0.2, lon, 9.0),
            (arrive_h, arrive_h + stay_h, lat, lon, 0.1),
            (arrive_h + stay_h + 0.05, arrive_h + stay_h + 1.0, lat - 0.2, lon, 9.0),
        ],
    )


def test_a_complete_stay_at_the_load_berth_gives_its_length(vostochny):
    pos = pd.concat([_call(1, vostochny, 10, 30.0), _call(2, vostochny, 100, 12.0)])
    stays = berth_stays(pos, [vostochny])
    assert [(s.mmsi, s.port, s.berth) for s in stays] == [
        (1, "vostochny", "oil-1"),
        (2, "vostochny", "oil-1"),
    ]
    assert [round(s.hours, 2) for s in stays] == [30.0, 12.0]


def test_stays_cut_by_the_data_or_by_silence_are_left_out(vostochny):
    lat, lon = _at(vostochny, "oil-1")
    # already at the berth when the data begin: its arrival is unknown
    from_start = _track(1, [(0, 20, lat, lon, 0.1), (20.05, 21, lat - 0.2, lon, 9.0)])
    # the transponder fell silent for 10 h at the berth: it may have left and come back
    silent = pd.concat(
        [
            _track(2, [(49, 49.95, lat - 0.2, lon, 9.0), (50, 55, lat, lon, 0.1)]),
            _track(2, [(65, 70, lat, lon, 0.1), (70.05, 71, lat - 0.2, lon, 9.0)]),
        ]
    )
    # switched on at the berth after a day dark: the report before it is a day old
    dark = pd.concat(
        [
            _track(3, [(100, 101, lat - 0.2, lon, 9.0)]),
            _track(3, [(125, 140, lat, lon, 0.1), (140.05, 141, lat - 0.2, lon, 9.0)]),
        ]
    )
    assert berth_stays(pd.concat([from_start, silent, dark]), [vostochny]) == []
    # the same vessels' whole calls count
    assert len(berth_stays(_call(3, vostochny, 200, 15.0), [vostochny])) == 1


def test_only_the_roles_asked_for_and_only_moored_vessels(vostochny):
    other = next(b for b in vostochny.berths if b.role != "load")
    lat, lon = _at(vostochny, "oil-1")
    passing = _track(9, [(0, 5, lat, lon, 6.0)])  # at the berth's position but under way
    pos = pd.concat([_call(1, vostochny, 10, 30.0, berth=other.id), passing])
    assert berth_stays(pos, [vostochny]) == []
    (stay,) = berth_stays(pos, [vostochny], roles=(other.role,))
    assert stay.berth == other.id
    assert berth_stays(pos.iloc[0:0], [vostochny]) == [] and berth_stays(None, [vostochny]) == []


def test_track_stays_lists_every_berth_visit_in_order(vostochny):
    other = next(b for b in vostochny.berths if b.role != "load")
    track = pd.concat([_call(1, vostochny, 10, 5.0), _call(1, vostochny, 30, 8.0, other.id)])
    stays = track_stays(track.reset_index(drop=True), [vostochny], 300.0, 1.0)
    assert [(s[1], s[2]) for s in stays] == [("oil-1", "load"), (other.id, other.role)]
    assert (stays[1][4] - stays[1][3]) == timedelta(hours=8)
