# ruff: noqa: E501 (the sample files keep their real line lengths)
"""AIS files -> positions and static tables: every layout, bad rows counted, non-AIS refused;
`tankerwatch ingest --source ais` through the real entry point."""

from __future__ import annotations

import pandas as pd
import pytest

from pipeline.errors import TankerWatchError
from pipeline.ingest.ais import read_ais

NOAA = """MMSI,BaseDateTime,LAT,LON,SOG,COG,Heading,VesselName,IMO,CallSign,VesselType,Length,Width,Draft,Cargo,TransceiverClass
477220100,2017-02-01T20:05:07,42.35137,-71.04182,5.9,47.0,45.0,ASIAN KING,IMO9413780,VRBX6,70,199,32,9.8,70,A
477220100,2017-02-01T20:06:07,42.35237,-71.04082,102.3,360.0,511,ASIAN KING,IMO9413780,VRBX6,70,199,32,9.8,70,A
12x,2017-02-01T20:06:07,42.35237,-71.04082,5.9,47.0,511,,,,,,,,,
366053209,notatime,42.3,-71.0,0,0,0,,,,,,,,,
366053209,2017-02-01T20:07:00,91,181,0,0,511,,,,,,,,,
366053209,2017-02-01T20:08:00,42.3,-71.0
366053209,2017-02-01T20:09:00,42.3,-71.0,0.1,12.5,90,,,,,,,,,
"""

DMA = """# Timestamp,Type of mobile,MMSI,Latitude,Longitude,Navigational status,ROT,SOG,COG,Heading,IMO,Callsign,Name,Ship type,Cargo type,Width,Length,Type of position fixing device,Draught,Destination,ETA,Data source type,A,B,C,D
01/03/2024 00:00:00,Class A,219000873,56.990903,10.304587,Moored,0.0,0.0,30.2,82,Unknown,OXPN2,TYCHO BRAHE,Passenger,,28,111,GPS,5.8,HELSINGOR,,AIS,87,24,14,14
13/03/2024 07:30:00,Class A,219000873,56.991,10.305,Moored,0.0,0.1,31.0,83,Unknown,OXPN2,TYCHO BRAHE,Passenger,,28,111,GPS,5.8,HELSINGOR,,AIS,87,24,14,14
32/03/2024 00:00:00,Class A,219000873,56.991,10.305,Moored,,,,,,,,,,,,,,,,AIS,,,,
"""

GFW = """mmsi,timestamp,distance_from_shore,distance_from_port,speed,course,lat,lon,is_fishing,source
12639560807591,1336559426,0,0,0,0,0,0,-1,dalhousie_longliner
273424810,1336559426,10000,15000,8.2,151.5,42.7,133.05,-1,dalhousie_longliner
273424810,1336563026,10000,15000,8.1,150.0,42.69,133.06,-1,dalhousie_longliner
"""

# pyais' own test sentences: type 1, type 5 in two parts, type 24 A and B, type 18
NMEA = r"""\s:2573345,c:1609459200*0D\!AIVDM,1,1,,B,15M67FC000G?ufbE`FepT@3n00Sa,0*5C
1609459260 !AIVDM,2,1,1,A,55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp8,0*1C
1609459260 !AIVDM,2,2,1,A,88888888880,2*25
2021-01-01T00:02:00Z,!AIVDM,1,1,,A,H42O55i18tMET00000000000000,2*6D
2021-01-01T00:02:01Z,!AIVDM,1,1,,A,H42O55lti4hhhilD3nink000?050,0*40
\c:1609459300*00\!AIVDM,1,1,,B,B5NJ;PP005l4ot5Isbl03wsUkP06,0*75
!AIVDM,1,1,,B,15M67FC000G?ufbE`FepT@3n00Sa,0*5C
1609459400 !AIVDM,1,1,,B,15M67FC000G?ufbE`FepT@3n00Sa,0*00
1609459400 !AIVDM,2,1,7,A,55?MbV02;H;s<HtKR20EHE:0@T4@Dn2222222216L961O5Gf0NSQEp6ClRp8,0*1A
garbage line
"""


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_noaa_positions_static_and_bad_rows(tmp_path):
    f = read_ais(write(tmp_path, "noaa.csv", NOAA))
    assert f.layout == "noaa" and f.rows == 7
    pos = f.positions
    assert list(pos["mmsi"]) == [477220100, 477220100, 366053209]
    assert pos["time"].iloc[0] == pd.Timestamp("2017-02-01T20:05:07Z")
    assert (pos["lat"].iloc[0], pos["lon"].iloc[0]) == (42.35137, -71.04182)
    # AIS "not available" codes are missing values, not numbers
    second = pos.iloc[1]
    assert pd.isna(second["sog"]) and pd.isna(second["cog"]) and pd.isna(second["heading"])
    assert f.bad == {
        "bad MMSI": 1,
        "bad time": 1,
        "position missing or out of range": 1,
        "unparseable line": 1,
    }
    (s,) = f.static.to_dict("records")
    assert (s["mmsi"], s["name"], s["imo"], s["callsign"]) == (
        477220100,
        "ASIAN KING",
        "9413780",
        "VRBX6",
    )
    assert (s["length_m"], s["width_m"], s["ship_type"]) == (199.0, 32.0, "70")
    assert "4 bad rows skipped" in f.line()


def test_dma_day_first_times_and_unknown_imo(tmp_path):
    f = read_ais(write(tmp_path, "aisdk.csv", DMA))
    assert f.layout == "dma"
    assert list(f.positions["time"]) == [
        pd.Timestamp("2024-03-01T00:00:00Z"),
        pd.Timestamp("2024-03-13T07:30:00Z"),
    ]
    assert f.bad == {"bad time": 1}
    (s,) = f.static.to_dict("records")
    assert s["imo"] is None and s["name"] == "TYCHO BRAHE" and s["length_m"] == 111.0
    assert s["time"] == pd.Timestamp("2024-03-13T07:30:00Z")  # the latest report


def test_gfw_unix_times(tmp_path):
    f = read_ais(write(tmp_path, "gfw.csv", GFW))
    assert f.layout == "gfw"
    assert list(f.positions["mmsi"]) == [273424810, 273424810]
    assert f.positions["time"].iloc[0] == pd.Timestamp(1336559426, unit="s", tz="UTC")
    assert f.positions["sog"].iloc[0] == 8.2
    assert f.bad == {"bad MMSI": 1} and f.static.empty


def test_nmea_positions_static_multipart_and_times(tmp_path):
    f = read_ais(write(tmp_path, "feed.nmea", NMEA))
    assert f.layout == "nmea"
    pos = f.positions.sort_values(["time", "mmsi"]).reset_index(drop=True)
    assert list(pos["mmsi"]) == [366053209, 367430530]
    assert pos["time"].iloc[0] == pd.Timestamp("2021-01-01T00:00:00Z")  # tag block c:
    assert pos["lat"].iloc[0] == pytest.approx(37.802118)
    assert pd.isna(pos["heading"].iloc[1])  # type 18, heading 511 = not available
    static = f.static.set_index("mmsi")
    ever = static.loc[351759000]  # type 5 from two fragments
    assert (ever["name"], ever["imo"], ever["callsign"]) == ("EVER DIADEM", "9134270", "3FOF8")
    assert (ever["length_m"], ever["width_m"]) == (295.0, 32.0)
    proguy = static.loc[271041815]  # type 24: name from part A, the rest from part B
    assert (proguy["name"], proguy["callsign"], proguy["length_m"]) == ("PROGUY", "TC6163", 15.0)
    assert f.bad == {
        "no receive time": 1,
        "bad checksum": 1,
        "incomplete multi-part message": 1,
        "unparseable line": 1,
    }


@pytest.mark.parametrize(
    "name, content",
    [
        ("notes.csv", "hello,world\n1,2\n"),
        ("empty.csv", ""),
        ("image.tif", b"II*\x00\x08\x00\x00\x00\xff\xfe\x00"),
    ],
)
def test_a_file_that_is_not_ais_is_one_error(tmp_path, name, content):
    p = tmp_path / name
    p.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(TankerWatchError, match=f"{name}: not an AIS file"):
        read_ais(p)


def test_gfw_track_download_without_mmsi_is_explained(tmp_path):
    p = write(
        tmp_path, "track.csv", "Lon,Lat,Timestamp,Speed,Course,Seg_id\n1,2,2024-01-01,0,0,a\n"
    )
    with pytest.raises(TankerWatchError, match="no MMSI column"):
        read_ais(p)


# ------------------------------------------------------------------------------ draughts
NOAA_DRAFT = """MMSI,BaseDateTime,LAT,LON,SOG,COG,Heading,VesselName,IMO,CallSign,VesselType,Length,Width,Draft,Cargo,TransceiverClass
273000002,2024-03-01T00:00:00,42.73,133.05,0.1,10,90,,,,80,120,18,0,80,A
273000001,2024-03-01T02:00:00,42.73,133.05,0.1,10,90,YU SON,,,80,106,16,6.1,80,A
273000001,2024-03-01T00:00:00,42.73,133.05,0.1,10,90,YU SON,,,80,106,16,6.1,80,A
273000001,2024-03-01T01:00:00,42.73,133.05,0.1,10,90,YU SON,,,80,106,16,6.1,80,A
273000002,2024-03-01T01:00:00,42.73,133.05,0.1,10,90,,,,80,120,18,25.6,80,A
273000001,2024-03-01T03:00:00,42.73,133.05,0.1,10,90,YU SON,,,80,106,16,8.4,80,A
273000002,2024-03-01T02:00:00,42.73,133.05,0.1,10,90,,,,80,120,18,,80,A
273000001,2024-03-01T04:00:00,42.73,133.05,0.1,10,90,YU SON,,,80,106,16,8.4,80,A
273000003,2024-03-01T00:00:00,42.73,133.05,0.1,10,90,,,,80,330,60,25.5,80,A
"""


def _without_draught(text: str, column: str) -> str:
    rows = [line.split(",") for line in text.splitlines()]
    i = rows[0].index(column)
    return "\n".join(",".join(r[:i] + r[i + 1 :]) for r in rows) + "\n"


def test_noaa_draughts_keep_each_vessels_changes_only(tmp_path):
    f = read_ais(write(tmp_path, "noaa.csv", NOAA_DRAFT))
    assert f.n_bad == 0 and len(f.positions) == 9
    d = f.draughts
    assert list(d.columns) == ["mmsi", "time", "draught_m"]
    assert (str(d["mmsi"].dtype), str(d["time"].dtype)) == ("int64", "datetime64[ns, UTC]")
    # 273000001: 6.1 three times (out of order in the file), then 8.4 twice -> two change points;
    # 273000002: 0 (not available), 25.6 (out of range), empty -> no report; 25.5 is one
    assert list(d.itertuples(index=False, name=None)) == [
        (273000001, pd.Timestamp("2024-03-01T00:00:00Z"), 6.1),
        (273000001, pd.Timestamp("2024-03-01T03:00:00Z"), 8.4),
        (273000003, pd.Timestamp("2024-03-01T00:00:00Z"), 25.5),
    ]
    assert "3 draught reports" in f.line()
    # the same file without its Draft column: the same positions and static data, no draughts
    g = read_ais(write(tmp_path, "nodraft.csv", _without_draught(NOAA_DRAFT, "Draft")))
    assert g.n_bad == 0 and g.draughts.empty and list(g.draughts.columns) == list(d.columns)
    pd.testing.assert_frame_equal(f.positions, g.positions)
    pd.testing.assert_frame_equal(f.static, g.static)


def test_draught_junk_is_no_report_and_no_bad_row(tmp_path):
    # junk sends the file down the text path; 8.40 there is the same value as 8.4, no change
    text = NOAA_DRAFT.replace(",25.6,", ",deep,").replace(
        ",16,8.4,80,A\n273000003", ",16,8.40,80,A\n273000003"
    )
    f = read_ais(write(tmp_path, "junk.csv", text))
    assert f.n_bad == 0 and len(f.positions) == 9
    assert list(f.draughts["draught_m"]) == [6.1, 8.4, 25.5]
    unreported = {",6.1,": ",0,", ",8.4,": ",-1,", ",8.40,": ",,", ",25.5,": ",25.6,"}
    for old, new in unreported.items():
        text = text.replace(old, new)
    g = read_ais(write(tmp_path, "none.csv", text))
    assert g.draughts.empty and g.n_bad == 0 and len(g.positions) == 9


def test_dma_draughts(tmp_path):
    later = "20/03/2024 10:00:00,Class A,219000873,57.1,10.4,Under way using engine,0.0,12.0,30.2,82,Unknown,OXPN2,TYCHO BRAHE,Passenger,,28,111,GPS,6.2,HELSINGOR,,AIS,87,24,14,14\n"
    f = read_ais(write(tmp_path, "aisdk.csv", DMA + later))
    assert list(f.draughts.itertuples(index=False, name=None)) == [
        (219000873, pd.Timestamp("2024-03-01T00:00:00Z"), 5.8),  # repeated on 13/03: kept once
        (219000873, pd.Timestamp("2024-03-20T10:00:00Z"), 6.2),
    ]
    g = read_ais(write(tmp_path, "nodraught.csv", _without_draught(DMA + later, "Draught")))
    assert g.draughts.empty
    pd.testing.assert_frame_equal(f.positions, g.positions)


def test_gfw_has_no_draughts(tmp_path):
    f = read_ais(write(tmp_path, "gfw.csv", GFW))
    assert f.draughts.empty and list(f.draughts.columns) == ["mmsi", "time", "draught_m"]


def test_nmea_type_5_draughts(tmp_path):
    from pyais import encode_dict

    f = read_ais(write(tmp_path, "feed.nmea", NMEA))
    # pyais' own type 5 sentence (EVER DIADEM) carries a draught of 12.2 m
    assert list(f.draughts.itertuples(index=False, name=None)) == [
        (351759000, pd.Timestamp("2021-01-01T00:01:00Z"), 12.2)
    ]
    lines = []
    # 7.3 m, the same again, 0 (not available), 9.1 m: the first and the change
    for i, draught in enumerate([7.3, 7.3, 0.0, 9.1]):
        fields = {"type": 5, "mmsi": 273000001, "shipname": "YU SON", "draught": draught}
        for sentence in encode_dict(fields, seq_id=1):
            lines.append(f"{1709251200 + 3600 * i} {sentence}")
    g = read_ais(write(tmp_path, "encoded.nmea", "\n".join(lines) + "\n"))
    assert g.n_bad == 0 and g.static["name"].tolist() == ["YU SON"]
    assert list(g.draughts.itertuples(index=False, name=None)) == [
        (273000001, pd.Timestamp("2024-03-01T00:00:00Z"), 7.3),
        (273000001, pd.Timestamp("2024-03-01T03:00:00Z"), 9.1),
    ]


# ------------------------------------------------------------------------------ the command
def _one_line_error(res, *needles):
    assert res.returncode == 2, (res.stdout, res.stderr)
    lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "Traceback" not in res.stderr, res.stderr
    for n in needles:
        assert n in lines[0], lines[0]


def test_ingest_ais_command_is_idempotent_and_refuses_non_ais(cli, tmp_path):
    from pipeline.ledger.store import Ledger

    noaa = write(tmp_path, "noaa.csv", NOAA)
    feed = write(tmp_path, "feed.nmea", NMEA)
    db = f"sqlite:///{tmp_path / 'l.db'}"
    res = cli("ingest", "--source", "ais", "--path", noaa, "--path", feed, "--db", db)
    assert res.returncode == 0, res.stderr
    assert "ais: 2 files, 5 positions read, 5 added" in res.stdout
    assert "2 draught reports read" in res.stdout
    assert "4 bad rows skipped (1 bad MMSI" in res.stdout
    res = cli("ingest", "--source", "ais", "--path", tmp_path / "noaa.csv", "--db", db)
    assert res.returncode == 0 and "0 added (3 already in the ledger)" in res.stdout
    with Ledger(db) as led:
        assert len(led.ais_positions()) == 5
        assert set(led.ais_static()["mmsi"]) == {477220100, 351759000, 271041815}
        draughts = led.ais_draughts()
        assert list(zip(draughts["mmsi"], draughts["draught_m"], strict=True)) == [
            (351759000, 12.2),
            (477220100, 9.8),
        ]
        assert list(draughts["source_file"]) == [str(feed), str(noaa)]

    # a file that is not AIS among good ones: one line, exit 2, nothing of the good one kept
    other = tmp_path / "other"
    other.mkdir()
    write(other, "a.csv", DMA)
    write(other, "b.csv", "x,y\n1,2\n")
    db2 = f"sqlite:///{tmp_path / 'l2.db'}"
    _one_line_error(
        cli("ingest", "--source", "ais", "--path", other, "--db", db2), "b.csv: not an AIS file"
    )
    assert not (tmp_path / "l2.db").exists()
    _one_line_error(cli("ingest", "--source", "ais", "--db", db2), "no AIS files given")
    _one_line_error(
        cli("ingest", "--source", "ais", "--path", tmp_path / "nope.csv", "--db", db2),
        "nope.csv: no such file",
    )
    # the imagery sources still need their ports and period
    _one_line_error(
        cli("ingest", "--source", "simulated", "--path", other, "--db", db2),
        "--ports, --start, --end required",
    )


def test_clean_files_read_the_same_on_the_fast_path(tmp_path):
    """Without junk, numbers and times are converted by pyarrow itself; same values."""
    lines = NOAA.splitlines()
    clean = "\n".join([lines[0], lines[1], lines[2], lines[7]]) + "\n"
    f = read_ais(write(tmp_path, "clean.csv", clean))
    g = read_ais(write(tmp_path, "dirty.csv", NOAA))
    assert f.n_bad == 0
    pd.testing.assert_frame_equal(f.positions, g.positions)
    pd.testing.assert_frame_equal(f.static, g.static)
    d = read_ais(write(tmp_path, "dma.csv", "\n".join(DMA.splitlines()[:3]) + "\n"))
    assert d.n_bad == 0 and list(d.positions["time"].dt.day) == [1, 13]
