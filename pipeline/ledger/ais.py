"""AIS in the ledger: transponder positions, the latest static report and the draught reports
per MMSI.

Positions are bulk loaded (a million rows in seconds): the rows go into a temporary table
without constraints (SQLite ``executemany``, PostgreSQL ``COPY``), then one
``INSERT ... SELECT ... ON CONFLICT DO NOTHING`` moves those not yet kept, so its row count is
exactly what was added and a file ingested twice adds nothing. Static data is upserted per MMSI:
a newer report replaces the fields it carries and keeps the others. Draught reports (a few per
vessel: only its changes) are inserted by (mmsi, time), those already kept left.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import sqlalchemy as sa

from pipeline.ledger import schema as t
from pipeline.ledger.catalogue import _as_utc_bound

_POS = ["mmsi", "time_utc", "lat", "lon", "sog", "cog", "heading", "source_file"]
_STATIC = ["name", "imo", "callsign", "ship_type", "length_m", "width_m"]


def _nullable(values: np.ndarray) -> list:
    values = np.asarray(values, dtype=float)
    out = values.astype(object)
    out[np.isnan(values)] = None
    return out.tolist()


class AisStore:
    """Ledger methods for AIS (mixed into pipeline.ledger.store.Ledger)."""

    def add_ais(
        self,
        positions: pd.DataFrame,
        static: pd.DataFrame,
        source_file: str,
        draughts: pd.DataFrame | None = None,
    ) -> int:
        """Keep one file's positions, static and draught reports (mmsi, time, draught_m) in one
        transaction; returns the positions added (those already kept, by MMSI and time, are
        left, and so are draught reports)."""
        added = 0
        with self._write() as conn:
            if len(positions):
                added = self._load_positions(conn, positions, source_file)
            if len(static):
                self._upsert_static(conn, static, source_file)
            if draughts is not None and len(draughts):
                self._insert_draughts(conn, draughts, source_file)
        return added

    def _time_text(self, times: pd.Series) -> list[str]:
        # what SQLAlchemy's DateTime stores on SQLite (text compared as text, so the same form)
        stamps = np.datetime_as_string(
            times.dt.tz_convert("UTC").dt.tz_localize(None).to_numpy("datetime64[us]"), unit="us"
        )
        if self.dialect == "sqlite":
            return np.char.replace(stamps, "T", " ").tolist()
        return np.char.add(stamps, "Z").tolist()

    def _load_positions(self, conn: sa.Connection, df: pd.DataFrame, source_file: str) -> int:
        n = len(df)
        columns = [
            df["mmsi"].astype("int64").tolist(),
            self._time_text(df["time"]),
            df["lat"].astype(float).tolist(),
            df["lon"].astype(float).tolist(),
            _nullable(df["sog"]),
            _nullable(df["cog"]),
            _nullable(df["heading"]),
            [source_file] * n,
        ]
        rows = list(zip(*columns, strict=True))
        names = ", ".join(_POS)  # constant column names; every value is a bound parameter
        if self.dialect == "sqlite":
            conn.exec_driver_sql(
                "CREATE TEMP TABLE IF NOT EXISTS ais_load (mmsi INTEGER, time_utc DATETIME, "
                "lat FLOAT, lon FLOAT, sog FLOAT, cog FLOAT, heading FLOAT, source_file TEXT)"
            )
            conn.exec_driver_sql("DELETE FROM ais_load")
            conn.connection.driver_connection.executemany(
                f"INSERT INTO ais_load ({names}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
                rows,
            )
            result = conn.exec_driver_sql(
                f"INSERT OR IGNORE INTO ais_positions ({names}) "  # noqa: S608
                f"SELECT {names} FROM ais_load ORDER BY mmsi, time_utc"
            )
            added = result.rowcount
            conn.exec_driver_sql("DELETE FROM ais_load")
            return added
        conn.exec_driver_sql(
            "CREATE TEMP TABLE ais_load (mmsi INTEGER, time_utc TIMESTAMPTZ, lat FLOAT, "
            "lon FLOAT, sog FLOAT, cog FLOAT, heading FLOAT, source_file TEXT) ON COMMIT DROP"
        )
        cursor = conn.connection.driver_connection.cursor()
        with cursor.copy(f"COPY ais_load ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        result = conn.exec_driver_sql(
            f"INSERT INTO ais_positions ({names}) SELECT DISTINCT ON (mmsi, time_utc) {names} "  # noqa: S608
            "FROM ais_load ORDER BY mmsi, time_utc ON CONFLICT DO NOTHING"
        )
        return result.rowcount

    def _upsert_static(self, conn: sa.Connection, static: pd.DataFrame, source_file: str) -> None:
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        rows = []
        for rec in static.to_dict("records"):
            row = {"mmsi": int(rec["mmsi"]), "time_utc": rec["time"].to_pydatetime()}
            for c in _STATIC:
                v = rec[c]
                row[c] = None if v is None or (isinstance(v, float) and np.isnan(v)) else v
            row["source_file"] = source_file
            rows.append(row)
        stmt = insert(t.ais_static)
        ex, cur = stmt.excluded, t.ais_static.c
        stmt = stmt.on_conflict_do_update(
            index_elements=["mmsi"],
            set_={
                "time_utc": ex.time_utc,
                "source_file": ex.source_file,
                **{c: sa.func.coalesce(ex[c], cur[c]) for c in _STATIC},
            },
            where=ex.time_utc > cur.time_utc,
        )
        conn.execute(stmt, rows)

    def _insert_draughts(self, conn: sa.Connection, df: pd.DataFrame, source_file: str) -> None:
        # a missing draught is no report (PostgreSQL would keep NaN where SQLite refuses NULL)
        df = df[df["draught_m"].notna()]
        if df.empty:
            return
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert
        else:
            from sqlalchemy.dialects.postgresql import insert
        rows = [
            {"mmsi": m, "time_utc": when, "draught_m": d, "source_file": source_file}
            for m, when, d in zip(
                df["mmsi"].astype("int64").tolist(),
                pd.to_datetime(df["time"], utc=True).dt.to_pydatetime(),
                df["draught_m"].astype(float).tolist(),
                strict=True,
            )
        ]
        conn.execute(insert(t.ais_draughts).on_conflict_do_nothing(), rows)

    def _by_vessel_and_time(self, table, start, end, mmsis, where=()) -> pd.DataFrame:
        """Rows of an AIS table keyed by (mmsi, time_utc), sorted by them; start/end inclusive,
        ``mmsis`` and further conditions ``where`` optional; time_utc read as ``time`` (UTC)."""
        c = table.c
        q = sa.select(table).order_by(c.mmsi, c.time_utc)
        if (lo := _as_utc_bound(start, end=False)) is not None:
            q = q.where(c.time_utc >= lo)
        if (hi := _as_utc_bound(end, end=True)) is not None:
            q = q.where(c.time_utc <= hi)
        if mmsis is not None:
            q = q.where(c.mmsi.in_([int(m) for m in mmsis]))
        for cond in where:
            q = q.where(cond)
        with self._read() as conn:
            rows = conn.execute(q).all()
        df = pd.DataFrame(rows, columns=[col.name for col in table.columns])
        df = df.rename(columns={"time_utc": "time"})
        df["time"] = pd.to_datetime(df["time"], utc=True)
        df["mmsi"] = df["mmsi"].astype("int64")
        return df

    def ais_positions(
        self,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
        bbox: tuple[float, float, float, float] | None = None,
        mmsis: list[int] | None = None,
    ) -> pd.DataFrame:
        """Positions (mmsi, time, lat, lon, sog, cog, heading, source_file) sorted by MMSI and
        time; start/end inclusive, bbox (west, south, east, north) in degrees."""
        c = t.ais_positions.c
        where = []
        if bbox is not None:
            west, south, east, north = bbox
            where = [c.lat.between(south, north), c.lon.between(west, east)]
        df = self._by_vessel_and_time(t.ais_positions, start, end, mmsis, where)
        for col in ("lat", "lon", "sog", "cog", "heading"):
            df[col] = df[col].astype(float)
        return df

    def ais_static(self, mmsis: list[int] | None = None) -> pd.DataFrame:
        """Static data per MMSI (mmsi, time, name, imo, callsign, ship_type, length_m,
        width_m, source_file)."""
        q = sa.select(t.ais_static).order_by(t.ais_static.c.mmsi)
        if mmsis is not None:
            q = q.where(t.ais_static.c.mmsi.in_([int(m) for m in mmsis]))
        with self._read() as conn:
            rows = conn.execute(q).all()
        df = pd.DataFrame(rows, columns=[col.name for col in t.ais_static.columns])
        df = df.rename(columns={"time_utc": "time"})
        df["time"] = pd.to_datetime(df["time"], utc=True)
        df["mmsi"] = df["mmsi"].astype("int64")
        for col in ("length_m", "width_m"):
            df[col] = df[col].astype(float)
        # pandas 3 reads a text column with some values as its str dtype, where NULL becomes NaN
        # (truthy, and written out as "nan"): missing text stays None
        for col in df.columns:
            if col not in ("time", "mmsi", "length_m", "width_m"):
                df[col] = df[col].astype(object).where(df[col].notna(), None)
        return df

    def ais_draughts(
        self,
        mmsis: list[int] | None = None,
        start: datetime | str | None = None,
        end: datetime | str | None = None,
    ) -> pd.DataFrame:
        """Draught reports (mmsi, time, draught_m, source_file) sorted by MMSI and time;
        start/end inclusive."""
        df = self._by_vessel_and_time(t.ais_draughts, start, end, mmsis)
        df["draught_m"] = df["draught_m"].astype(float)
        df["source_file"] = df["source_file"].astype(object)
        return df
