"""AIS input: transponder records from files -> position, static and draught tables (pandas).

AIS is an ingest of records, not imagery, so it is no ``Source`` (those list and load rasters of
ports): ``read_ais(path)`` reads one file of any layout below into three tables, and the runner
(``pipeline.run.ais``) keeps them in the ledger. Layouts, told apart by their header:

- NOAA MarineCadastre CSV: MMSI, BaseDateTime, LAT, LON, SOG, COG, Heading, VesselName, IMO,
  CallSign, VesselType, Length, Width (, ...); draught from ``Draft`` (on every row, optional).
- Danish Maritime Authority CSV: ``# Timestamp`` (dd/mm/yyyy HH:MM:SS), Type of mobile, MMSI,
  Latitude, Longitude, ..., SOG, COG, Heading, IMO, Callsign, Name, Ship type, ..., Width, Length;
  draught from ``Draught`` (optional).
- Global Fishing Watch CSV with one position per row: mmsi, timestamp (ISO or Unix seconds),
  lat, lon, speed, course (the public training-data layout); no draught. The map's track
  download has no MMSI column, so it is refused with a line saying so.
- Raw NMEA ``!AIVDM``/``!AIVDO`` sentences (any talker), decoded with pyais: types 1-3 and 18
  (positions), 5 and 24 (static), multi-part messages assembled; draught from type 5's
  ``draught``. NMEA carries no date, so each line needs its receive time: an NMEA 4.10 tag block
  ``\\c:UNIX,...*hh\\`` or a leading timestamp (Unix seconds or ISO 8601) before the sentence; a
  line without one is a bad row.

Draught (metres) is the loaded depth a vessel reports, evidence of how full a tanker left a
berth. A value outside (0, 25.5] (0 is AIS "not available", 25.5 means 25.5 m or more) or missing
is no report, never a bad row. Only the change points are kept per MMSI: its first report and
each whose value differs from its previous one (NOAA repeats the draught on every row).

Bad rows (unparseable, MMSI, time or position missing or out of range) are counted by reason
and dropped, never fatal; a file that matches no layout raises ``TankerWatchError`` (one line).
CSV files are parsed by pyarrow with every check vectorised (a million rows in seconds).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from pipeline.errors import TankerWatchError

POSITION_COLUMNS = ["mmsi", "time", "lat", "lon", "sog", "cog", "heading"]
STATIC_COLUMNS = ["mmsi", "time", "name", "imo", "callsign", "ship_type", "length_m", "width_m"]
DRAUGHT_COLUMNS = ["mmsi", "time", "draught_m"]
MAX_DRAUGHT_M = 25.5  # AIS's largest draught: 25.5 m or more

# layout -> {our column: header name (lower case)}
_LAYOUTS: dict[str, dict[str, str]] = {
    "noaa": {
        "mmsi": "mmsi",
        "time": "basedatetime",
        "lat": "lat",
        "lon": "lon",
        "sog": "sog",
        "cog": "cog",
        "heading": "heading",
        "name": "vesselname",
        "imo": "imo",
        "callsign": "callsign",
        "ship_type": "vesseltype",
        "length_m": "length",
        "width_m": "width",
        "draught_m": "draft",
    },
    "dma": {
        "mmsi": "mmsi",
        "time": "# timestamp",
        "lat": "latitude",
        "lon": "longitude",
        "sog": "sog",
        "cog": "cog",
        "heading": "heading",
        "name": "name",
        "imo": "imo",
        "callsign": "callsign",
        "ship_type": "ship type",
        "length_m": "length",
        "width_m": "width",
        "draught_m": "draught",
    },
    "gfw": {
        "mmsi": "mmsi",
        "time": "timestamp",
        "lat": "lat",
        "lon": "lon",
        "sog": "speed",
        "cog": "course",
    },
}
_REQUIRED = ("mmsi", "time", "lat", "lon")
_TIME_FORMAT = {"noaa": "ISO8601", "dma": "%d/%m/%Y %H:%M:%S", "gfw": "ISO8601"}
_LAYOUT_NAMES = {
    "noaa": "NOAA MarineCadastre CSV",
    "dma": "Danish Maritime Authority CSV",
    "gfw": "Global Fishing Watch CSV",
    "nmea": "NMEA AIVDM",
}
_NS = "datetime64[ns, UTC]"
_SENTENCE = re.compile(rb"![A-Z]{2}VD[MO],")


@dataclass
class AisFile:
    """One AIS file read: its positions, static and draught reports, and what was dropped and
    why."""

    path: Path
    layout: str  # noaa | dma | gfw | nmea
    rows: int  # data rows (CSV) or sentences (NMEA) in the file
    positions: pd.DataFrame  # POSITION_COLUMNS; time is datetime64[ns, UTC]
    static: pd.DataFrame  # STATIC_COLUMNS: one row per report that names or sizes a vessel
    draughts: pd.DataFrame  # DRAUGHT_COLUMNS: per MMSI its first report and each change
    bad: Counter = field(default_factory=Counter)  # reason -> rows dropped

    @property
    def n_bad(self) -> int:
        return sum(self.bad.values())

    def line(self) -> str:
        why = ", ".join(f"{n} {reason}" for reason, n in sorted(self.bad.items()))
        return (
            f"{self.path}: {_LAYOUT_NAMES[self.layout]}, {self.rows} rows, "
            f"{len(self.positions)} positions, {len(self.draughts)} draught reports, "
            f"{self.static['mmsi'].nunique()} vessels with static data, "
            f"{self.n_bad} bad rows skipped" + (f" ({why})" if why else "")
        )


def read_ais(path: str | Path) -> AisFile:
    """Read one AIS file of any supported layout (see the module doc)."""
    path = Path(path)
    try:
        with path.open("rb") as f:
            head = f.read(65536)
    except OSError as exc:
        raise TankerWatchError(f"{path}: cannot read ({exc.strerror or exc})") from None
    layout, header = _sniff(head)
    if layout is None:
        if b"Seg_id" in head.split(b"\n", 1)[0] or b"seg_id" in head.split(b"\n", 1)[0]:
            raise TankerWatchError(
                f"{path}: a Global Fishing Watch track download has no MMSI column; "
                "add one (mmsi) per row to ingest it"
            )
        raise TankerWatchError(
            f"{path}: not an AIS file (no NOAA MarineCadastre, Danish Maritime Authority or "
            "Global Fishing Watch CSV header, and no !AIVDM sentences)"
        )
    if layout == "nmea":
        return _read_nmea(path)
    return _read_csv(path, layout, header)


def _sniff(head: bytes) -> tuple[str | None, list[str]]:
    text = head.lstrip(b"\xef\xbb\xbf")
    first = text.split(b"\n", 1)[0].strip()
    try:
        cols = [c.strip().lower() for c in first.decode("utf-8").split(",")]
    except UnicodeDecodeError:
        return None, []
    names = set(cols)
    for layout, mapping in _LAYOUTS.items():
        if all(mapping[k] in names for k in _REQUIRED):
            return layout, cols
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if lines and sum(bool(_SENTENCE.search(ln)) for ln in lines) >= max(1, len(lines) // 2):
        return "nmea", []
    return None, []


# ---------------------------------------------------------------------------------------- CSV
def _read_csv(path: Path, layout: str, header: list[str]) -> AisFile:
    import pyarrow as pa
    import pyarrow.csv as pacsv

    mapping = {k: v for k, v in _LAYOUTS[layout].items() if v in header}
    wanted = list(dict.fromkeys(mapping.values()))
    originals = {}
    with path.open("rb") as f:
        raw_header = f.readline().lstrip(b"\xef\xbb\xbf").decode("utf-8").rstrip("\r\n")
    for name in raw_header.split(","):
        originals.setdefault(name.strip().lower(), name)
    invalid = Counter()

    def _invalid(row: pacsv.InvalidRow) -> str:
        invalid["unparseable line"] += 1
        return "skip"

    def _read(types: dict[str, pa.DataType], parsers: list) -> pa.Table:
        invalid.clear()
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(block_size=1 << 24),
            parse_options=pacsv.ParseOptions(invalid_row_handler=_invalid),
            convert_options=pacsv.ConvertOptions(
                include_columns=[originals[c] for c in wanted],
                column_types={originals[mapping[k]]: t for k, t in types.items()},
                timestamp_parsers=parsers,
                strings_can_be_null=True,
            ),
        )

    # fast path: numbers and times converted by pyarrow in C; a file with junk in one of those
    # columns fails that conversion and is read again as text, each value checked below
    text = {k: pa.string() for k in mapping}
    typed = dict(text)
    for k in ("mmsi", "lat", "lon", "sog", "cog", "heading", "length_m", "width_m", "draught_m"):
        if k in mapping:
            typed[k] = pa.float64()
    if layout in ("noaa", "dma"):
        typed["time"] = pa.timestamp("s")
    parsers = ["%d/%m/%Y %H:%M:%S"] if layout == "dma" else [pacsv.ISO8601]
    try:
        try:
            table = _read(typed, parsers)
        except pa.ArrowInvalid as exc:
            if "conversion error" not in str(exc).lower() and "parse" not in str(exc).lower():
                raise
            table = _read(text, parsers)
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TankerWatchError(f"{path}: unreadable as {_LAYOUT_NAMES[layout]} ({first})") from None
    raw = {k: table.column(originals[v]).to_pandas() for k, v in mapping.items()}
    n = table.num_rows
    bad = Counter(invalid)

    mmsi = pd.to_numeric(raw["mmsi"], errors="coerce")
    t = raw["time"]
    if pd.api.types.is_datetime64_any_dtype(t):
        time = pd.to_datetime(t, utc=True)
    elif layout == "gfw" and t.str.fullmatch(r"\d+(\.\d*)?").fillna(False).all():
        time = pd.to_datetime(pd.to_numeric(t, errors="coerce"), unit="s", utc=True)
    else:
        time = pd.to_datetime(t, format=_TIME_FORMAT[layout], utc=True, errors="coerce")
    lat = pd.to_numeric(raw["lat"], errors="coerce")
    lon = pd.to_numeric(raw["lon"], errors="coerce")
    ok_mmsi = mmsi.notna() & (mmsi > 0) & (mmsi <= 999_999_999) & (mmsi == np.floor(mmsi))
    ok_time = time.notna()
    ok_pos = lat.between(-90, 90) & lon.between(-180, 180)
    bad["bad MMSI"] += int((~ok_mmsi).sum())
    bad["bad time"] += int((ok_mmsi & ~ok_time).sum())
    bad["position missing or out of range"] += int((ok_mmsi & ok_time & ~ok_pos).sum())
    keep = (ok_mmsi & ok_time & ok_pos).to_numpy()
    mmsi_i = mmsi.where(ok_mmsi, 0).astype("int64")

    positions = pd.DataFrame(
        {
            "mmsi": mmsi_i[keep].to_numpy(),
            "time": time[keep].to_numpy(),
            "lat": lat[keep].to_numpy(dtype=float),
            "lon": lon[keep].to_numpy(dtype=float),
            "sog": _num(raw.get("sog"), n, 0, 102.2)[keep],
            "cog": _num(raw.get("cog"), n, 0, 359.9)[keep],
            "heading": _num(raw.get("heading"), n, 0, 359)[keep],
        }
    )
    positions["time"] = pd.to_datetime(positions["time"], utc=True).astype(_NS)

    static = _empty_static()
    fields = [
        k for k in ("name", "imo", "callsign", "ship_type", "length_m", "width_m") if k in raw
    ]
    if fields:
        # static fields repeat on every row of a vessel: clean only each distinct report
        ok_static = (ok_mmsi & ok_time).to_numpy()
        rawf = pd.DataFrame({"mmsi": mmsi_i, "time": time, **{k: raw[k] for k in fields}})
        rawf = rawf[ok_static].sort_values(["mmsi", "time"], kind="stable")
        rawf = rawf.drop_duplicates(subset=["mmsi", *fields], keep="last")
        m = len(rawf)
        frame = pd.DataFrame(
            {
                "mmsi": rawf["mmsi"].to_numpy(),
                "time": rawf["time"].to_numpy(),
                "name": _text(rawf.get("name"), m),
                "imo": _imo(rawf.get("imo"), m),
                "callsign": _text(rawf.get("callsign"), m),
                "ship_type": _text(rawf.get("ship_type"), m),
                "length_m": _num(rawf.get("length_m"), m, 1, 600),
                "width_m": _num(rawf.get("width_m"), m, 1, 100),
            }
        )
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
        static = _latest_static(frame)
    draughts = _empty_draughts()
    if "draught_m" in raw:
        ok = (ok_mmsi & ok_time).to_numpy()
        draughts = _draught_changes(
            mmsi_i[ok].to_numpy(), time[ok].array, _draught(raw["draught_m"][ok])
        )
    bad = Counter({k: v for k, v in bad.items() if v})
    rows = n + invalid["unparseable line"]
    return AisFile(path, layout, rows, positions, static, draughts, bad)


def _num(col: pd.Series | None, n: int, lo: float, hi: float) -> np.ndarray:
    """Numbers in [lo, hi]; anything else (AIS 'not available' codes, junk) is NaN."""
    if col is None:
        return np.full(n, np.nan)
    v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
    return np.where((v >= lo) & (v <= hi), v, np.nan)


_UNKNOWN = {"", "unknown", "undefined", "none", "nan", "n/a"}


def _text(col: pd.Series | None, n: int) -> np.ndarray:
    if col is None:
        return np.full(n, None, dtype=object)
    s = col.astype("string").str.strip()
    s = s.mask(s.str.lower().isin(_UNKNOWN))
    return s.astype(object).where(s.notna(), None).to_numpy()


def _imo(col: pd.Series | None, n: int) -> np.ndarray:
    """IMO numbers as 7-digit text ('IMO9134270' and '9134270' alike); others None."""
    if col is None:
        return np.full(n, None, dtype=object)
    s = col.astype("string").str.upper().str.replace("IMO", "", regex=False).str.strip()
    s = s.str.replace(r"\.0$", "", regex=True)
    good = s.str.fullmatch(r"[1-9]\d{6}").fillna(False)
    return s.astype(object).where(good, None).to_numpy()


def _draught(col: pd.Series) -> np.ndarray:
    """Draughts in (0, 25.5] m; 0 (not available), larger values and junk are NaN."""
    v = pd.to_numeric(col, errors="coerce").to_numpy(dtype=float)
    return np.where((v > 0) & (v <= MAX_DRAUGHT_M), v, np.nan)


def _empty_draughts() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "mmsi": pd.Series(dtype="int64"),
            "time": pd.Series(dtype=_NS),
            "draught_m": pd.Series(dtype=float),
        }
    )


def _draught_changes(mmsi: np.ndarray, time, draught: np.ndarray) -> pd.DataFrame:
    """Per MMSI, its first draught report and each that differs from its previous one, sorted
    by (mmsi, time); NaN draughts are no reports."""
    frame = pd.DataFrame({"mmsi": mmsi, "time": time, "draught_m": draught}).dropna()
    if frame.empty:
        return _empty_draughts()
    frame["time"] = pd.to_datetime(frame["time"], utc=True).astype(_NS)
    frame = frame.sort_values(["mmsi", "time"], kind="stable")
    # two reports of one second: the later line stands (the ledger keeps one per MMSI and time)
    frame = frame.drop_duplicates(subset=["mmsi", "time"], keep="last")
    m, d = frame["mmsi"].to_numpy(), frame["draught_m"].to_numpy()
    change = np.ones(len(frame), dtype=bool)
    change[1:] = (m[1:] != m[:-1]) | (d[1:] != d[:-1])
    out = frame[change].reset_index(drop=True)
    out["mmsi"] = out["mmsi"].astype("int64")
    return out[DRAUGHT_COLUMNS]


def _empty_static() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "mmsi": pd.Series(dtype="int64"),
            "time": pd.Series(dtype="datetime64[ns, UTC]"),
            "name": pd.Series(dtype=object),
            "imo": pd.Series(dtype=object),
            "callsign": pd.Series(dtype=object),
            "ship_type": pd.Series(dtype=object),
            "length_m": pd.Series(dtype=float),
            "width_m": pd.Series(dtype=float),
        }
    )


def _latest_static(frame: pd.DataFrame) -> pd.DataFrame:
    """Per MMSI, the latest known value of each static field (and the time of its last report)."""
    fields = ["name", "imo", "callsign", "ship_type", "length_m", "width_m"]
    frame = frame[frame[fields].notna().any(axis=1)]
    if frame.empty:
        return _empty_static()
    frame = frame.sort_values(["mmsi", "time"], kind="stable")
    out = frame.groupby("mmsi", sort=True)[fields].last()  # last non-null per column
    out["time"] = frame.groupby("mmsi", sort=True)["time"].max().astype(_NS)
    out = out.reset_index()[STATIC_COLUMNS]
    for c in ("name", "imo", "callsign", "ship_type"):
        out[c] = out[c].astype(object).where(out[c].notna(), None)
    return out


# --------------------------------------------------------------------------------------- NMEA
_TAG_TIME = re.compile(rb"(?:^|[,\\])c:(\d{9,13})")
_PREFIX_TIME = re.compile(
    rb"^\s*(\d{9,13}(?:\.\d+)?|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d)?)"
)


def _line_time(line: bytes, start: int) -> pd.Timestamp | None:
    prefix = line[:start]
    m = _TAG_TIME.search(prefix)
    if m:
        value = int(m.group(1))
        return pd.Timestamp(value / 1000 if value > 10**11 else value, unit="s", tz="UTC")
    m = _PREFIX_TIME.match(prefix)
    if m:
        text = m.group(1).decode()
        if text.replace(".", "", 1).isdigit():
            return pd.Timestamp(float(text), unit="s", tz="UTC")
        try:
            return pd.to_datetime(text, utc=True)
        except ValueError:
            return None
    return None


def _read_nmea(path: Path) -> AisFile:
    from pyais.exceptions import AISBaseException
    from pyais.messages import NMEAMessage

    bad: Counter = Counter()
    pos: list[tuple] = []
    stat: list[tuple] = []
    drt: list[tuple] = []
    parts: dict[tuple, list] = {}  # (seq id, channel, count) -> fragments so far
    rows = 0
    with path.open("rb") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            rows += 1
            m = _SENTENCE.search(line)
            if m is None:
                bad["unparseable line"] += 1
                continue
            when = _line_time(line, m.start())
            try:
                msg = NMEAMessage(line[m.start() :])
            except AISBaseException:
                bad["unparseable line"] += 1
                continue
            if not msg.is_valid:
                bad["bad checksum"] += 1
                continue
            if msg.frag_cnt > 1:
                key = (msg.seq_id, msg.channel, msg.frag_cnt)
                got = parts.setdefault(key, [])
                if msg.frag_num == 1:
                    got.clear()
                got.append((msg, when))
                if len(got) < msg.frag_cnt:
                    continue
                del parts[key]
                try:
                    whole = NMEAMessage.assemble_from_iterable([g[0] for g in got])
                except AISBaseException:
                    bad["incomplete multi-part message"] += 1
                    continue
                when = next((w for _, w in got if w is not None), None)
                msg = whole
            if when is None:
                bad["no receive time"] += 1
                continue
            try:
                decoded = msg.decode()
            except (AISBaseException, ValueError, IndexError):
                bad["undecodable message"] += 1
                continue
            _collect(decoded, when, pos, stat, drt, bad)
    bad["incomplete multi-part message"] += sum(len(v) for v in parts.values())
    bad = Counter({k: v for k, v in bad.items() if v})
    positions = pd.DataFrame(pos, columns=POSITION_COLUMNS)
    positions["mmsi"] = positions["mmsi"].astype("int64")
    positions["time"] = pd.to_datetime(positions["time"], utc=True).astype(_NS)
    for c in ("lat", "lon", "sog", "cog", "heading"):
        positions[c] = positions[c].astype(float)
    static = _empty_static()
    if stat:
        frame = pd.DataFrame(stat, columns=STATIC_COLUMNS)
        frame["time"] = pd.to_datetime(frame["time"], utc=True)
        static = _latest_static(frame)
    draughts = _empty_draughts()
    if drt:
        mmsi, when, draught = zip(*drt, strict=True)
        draughts = _draught_changes(
            np.array(mmsi, dtype="int64"),
            pd.to_datetime(list(when), utc=True).array,
            _draught(pd.Series(draught, dtype=float)),
        )
    return AisFile(path, "nmea", rows, positions, static, draughts, bad)


def _or_nan(value: float | None, lo: float, hi: float) -> float:
    return float(value) if value is not None and lo <= value <= hi else np.nan


def _collect(msg, when, pos: list, stat: list, drt: list, bad: Counter) -> None:
    kind = msg.msg_type
    mmsi = int(msg.mmsi)
    if not 0 < mmsi <= 999_999_999:
        bad["bad MMSI"] += 1
        return
    if kind in (1, 2, 3, 18):
        lat, lon = msg.lat, msg.lon
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            bad["position missing or out of range"] += 1
            return
        pos.append(
            (
                mmsi,
                when,
                float(lat),
                float(lon),
                _or_nan(msg.speed, 0, 102.2),
                _or_nan(msg.course, 0, 359.9),
                _or_nan(msg.heading, 0, 359),
            )
        )
    elif kind == 5:
        imo = str(msg.imo) if msg.imo and 1_000_000 <= msg.imo <= 9_999_999 else None
        stat.append(
            (
                mmsi,
                when,
                _clean(msg.shipname),
                imo,
                _clean(msg.callsign),
                str(int(msg.ship_type)) if msg.ship_type else None,
                _or_nan((msg.to_bow or 0) + (msg.to_stern or 0), 1, 600),
                _or_nan((msg.to_port or 0) + (msg.to_starboard or 0), 1, 100),
            )
        )
        if msg.draught:
            drt.append((mmsi, when, float(msg.draught)))
    elif kind == 24:
        if msg.partno == 0:
            stat.append((mmsi, when, _clean(msg.shipname), None, None, None, np.nan, np.nan))
        else:
            stat.append(
                (
                    mmsi,
                    when,
                    None,
                    None,
                    _clean(msg.callsign),
                    str(int(msg.ship_type)) if msg.ship_type else None,
                    _or_nan((msg.to_bow or 0) + (msg.to_stern or 0), 1, 600),
                    _or_nan((msg.to_port or 0) + (msg.to_starboard or 0), 1, 100),
                )
            )
    # other message types (base stations, safety text, ...) carry nothing we keep


def _clean(text: str | None) -> str | None:
    text = (text or "").replace("@", "").strip()
    return text or None


def read_many(paths: Iterable[str | Path]) -> list[AisFile]:
    """Read every file first, so a file that is not AIS stops the run before anything is kept."""
    return [read_ais(p) for p in paths]
