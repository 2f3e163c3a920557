"""AIS in the ledger (SQLite and PostgreSQL): bulk positions kept once, static data merged."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from ledger.factory import HEAD
from pipeline.ledger.store import Ledger


def positions(n: int, mmsi: int = 273424810, start: str = "2024-03-01T00:00:00Z") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "mmsi": np.full(n, mmsi, dtype="int64"),
            "time": pd.date_range(start, periods=n, freq="10s", tz="UTC"),
            "lat": np.linspace(42.70, 42.80, n),
            "lon": np.linspace(133.00, 133.10, n),
            "sog": np.where(np.arange(n) % 2 == 0, 5.0, np.nan),
            "cog": np.full(n, 90.0),
            "heading": np.full(n, np.nan),
        }
    )


def static(mmsi, time, **fields) -> pd.DataFrame:
    row = {
        "mmsi": mmsi,
        "time": pd.Timestamp(time),
        "name": None,
        "imo": None,
        "callsign": None,
        "ship_type": None,
        "length_m": np.nan,
        "width_m": np.nan,
    }
    row.update(fields)
    return pd.DataFrame([row])


def test_positions_are_kept_once_and_queried_by_time_and_place(db_url):
    with Ledger(db_url) as led:
        assert (
            led.add_ais(positions(100), static(1, "2024-03-01T00:00:00Z").iloc[:0], "a.csv") == 100
        )
        # the same reports again (another file, overlapping): only the new ones are added
        both = pd.concat([positions(100), positions(20, start="2024-03-02T00:00:00Z")])
        assert led.add_ais(both, both.iloc[:0], "b.csv") == 20
        got = led.ais_positions()
        assert len(got) == 120
        first = got.iloc[0]
        assert first["time"] == pd.Timestamp("2024-03-01T00:00:00Z")
        assert first["source_file"] == "a.csv" and first["sog"] == 5.0
        assert pd.isna(got.iloc[1]["sog"]) and pd.isna(first["heading"])
        window = led.ais_positions(start="2024-03-01T00:01:00Z", end="2024-03-01T00:02:00Z")
        assert list(window["time"].dt.second.unique()) == [0, 10, 20, 30, 40, 50]
        assert len(window) == 7
        north = led.ais_positions(bbox=(132.0, 42.75, 134.0, 43.0))
        assert (north["lat"] >= 42.75).all() and len(north) < 120
        assert led.ais_positions(mmsis=[1]).empty


def test_static_keeps_the_latest_report_and_fills_gaps(db_url):
    with Ledger(db_url) as led:
        empty = positions(0)
        led.add_ais(
            empty,
            static(
                273424810,
                "2024-03-01T00:00:00Z",
                name="OLD NAME",
                imo="9413780",
                length_m=199.0,
                width_m=32.0,
            ),
            "a.csv",
        )
        # an older report changes nothing; a newer one replaces what it carries, keeps the rest
        led.add_ais(empty, static(273424810, "2024-02-01T00:00:00Z", name="OLDER"), "b.csv")
        led.add_ais(empty, static(273424810, "2024-03-05T00:00:00Z", name="NEW NAME"), "c.csv")
        led.add_ais(empty, static(273424810, "2024-03-05T00:00:00Z", name="NEW NAME"), "c.csv")
        (row,) = led.ais_static().to_dict("records")
    assert (row["name"], row["imo"], row["length_m"], row["width_m"]) == (
        "NEW NAME",
        "9413780",
        199.0,
        32.0,
    )
    assert row["time"] == pd.Timestamp("2024-03-05T00:00:00Z") and row["source_file"] == "c.csv"


def test_static_text_missing_in_some_rows_reads_as_none(db_url):
    """One vessel with an IMO, one without: the missing one is None, never NaN (which is
    truthy and was written out as "nan" in deliveries.csv for an AIS-named vessel)."""
    with Ledger(db_url) as led:
        both = pd.concat(
            [
                static(273000001, "2024-03-01T00:00:00Z", name="WITH IMO", imo="9413780"),
                static(273000002, "2024-03-01T00:00:00Z", name="KUM JIN GANG 3"),
            ]
        )
        led.add_ais(positions(0), both, "a.csv")
        rows = {r.mmsi: r for r in led.ais_static().itertuples(index=False)}
    assert rows[273000001].imo == "9413780"
    assert rows[273000002].imo is None and rows[273000002].callsign is None
    assert (rows[273000002].imo or "none") == "none"


def draughts(*rows) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "mmsi": np.array([r[0] for r in rows], dtype="int64"),
            "time": pd.to_datetime([r[1] for r in rows], utc=True),
            "draught_m": [float(r[2]) for r in rows],
        }
    )


def test_draughts_are_kept_once_and_queried_by_vessel_and_time(db_url):
    first = draughts(
        (273000001, "2024-03-01T00:00:00Z", 6.1),
        (273000001, "2024-03-02T12:00:00Z", 8.4),
        (273000002, "2024-03-01T06:00:00Z", 11.0),
    )
    with Ledger(db_url) as led:
        assert led.ais_draughts().empty
        assert led.add_ais(positions(10), positions(0).iloc[:0], "a.csv", first) == 10
        # the same file again adds nothing; an overlapping one only its new report
        led.add_ais(positions(0), positions(0), "a.csv", first)
        again = pd.concat([first, draughts((273000001, "2024-03-04T00:00:00Z", 6.0))])
        led.add_ais(positions(0), positions(0), "b.csv", again)
        led.add_ais(positions(0), positions(0), "c.csv")  # no draughts: as before
        got = led.ais_draughts()
        assert list(got.columns) == ["mmsi", "time", "draught_m", "source_file"]
        assert list(got.itertuples(index=False, name=None)) == [
            (273000001, pd.Timestamp("2024-03-01T00:00:00Z"), 6.1, "a.csv"),
            (273000001, pd.Timestamp("2024-03-02T12:00:00Z"), 8.4, "a.csv"),
            (273000001, pd.Timestamp("2024-03-04T00:00:00Z"), 6.0, "b.csv"),
            (273000002, pd.Timestamp("2024-03-01T06:00:00Z"), 11.0, "a.csv"),
        ]
        assert str(got["mmsi"].dtype) == "int64" and got["time"].dt.tz is not None
        # start and end inclusive, as for positions; a date alone is the whole day
        window = led.ais_draughts(start="2024-03-01T06:00:00Z", end="2024-03-02T12:00:00Z")
        assert list(zip(window["mmsi"], window["draught_m"], strict=True)) == [
            (273000001, 8.4),
            (273000002, 11.0),
        ]
        assert len(led.ais_draughts(start="2024-03-04", end="2024-03-04")) == 1
        assert list(led.ais_draughts(mmsis=[273000002])["draught_m"]) == [11.0]
        assert led.ais_draughts(mmsis=[1]).empty


def test_draughts_are_in_the_files_transaction(db_url, monkeypatch):
    """Draughts that fail to go in take the file's positions and static data with them."""

    def fail(*args):
        raise RuntimeError("killed while keeping draughts")

    with Ledger(db_url) as led:
        monkeypatch.setattr(led, "_insert_draughts", fail)
        with pytest.raises(RuntimeError, match="killed"):
            led.add_ais(
                positions(5),
                static(273424810, "2024-03-01T00:00:00Z", name="X"),
                "a.csv",
                draughts((273424810, "2024-03-01T00:00:00Z", 6.1)),
            )
        assert led.ais_positions().empty and led.ais_static().empty and led.ais_draughts().empty


def test_a_missing_draught_is_no_report_on_either_back_end(db_url):
    with Ledger(db_url) as led:
        some = draughts((273424810, "2024-03-01", 6.1), (273424810, "2024-03-02", np.nan))
        led.add_ais(positions(0), positions(0), "a.csv", some)
        assert list(led.ais_draughts()["draught_m"]) == [6.1]


def test_upgrade_to_0008_keeps_ais_and_adds_draughts(db_url):
    from alembic import command
    from alembic.config import Config

    from pipeline.ledger import schema
    from pipeline.ledger.engine import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = sa.create_engine(db_url)
    when = pd.Timestamp("2024-03-01T00:00:00Z").to_pydatetime()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0007")
        assert "ais_draughts" not in sa.inspect(conn).get_table_names()
        conn.execute(
            sa.insert(schema.ais_positions),
            {"mmsi": 273424810, "time_utc": when, "lat": 42.7, "lon": 133.0, "source_file": "old"},
        )
    engine.dispose()
    with Ledger(db_url) as led:
        assert led.schema_revision() == HEAD == "0008"
        assert list(led.ais_positions()["source_file"]) == ["old"] and led.ais_draughts().empty
        led.add_ais(positions(0), positions(0), "new.csv", draughts((273424810, when, 9.0)))
        assert list(led.ais_draughts()["draught_m"]) == [9.0]
