"""The ledger store on SQLite and PostgreSQL: idempotent writes, runs, supersession, errors."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from ledger.factory import HEAD, MODEL, PORT, build, fill, snapshot
from pipeline.errors import TankerWatchError
from pipeline.ledger.runs import run_id_for
from pipeline.ledger.store import Ledger
from pipeline.ledger.urls import mask_url, resolve_url
from pipeline.records import Scene


@pytest.fixture
def sample():
    return build(seed=3)


def test_new_ledger_is_at_head(db_url):
    with Ledger(db_url) as led:
        assert led.schema_revision() == HEAD
        assert set(led.counts().values()) == {0}
        assert led.latest_run() is None
        assert led.visits() == []
        assert led.deliveries() == []


def test_scenes_and_observations_round_trip_and_add_nothing_twice(db_url, sample):
    with Ledger(db_url) as led:
        s0 = sample.scenes[0]
        assert not led.has_scene(s0.id)
        assert led.add_scene(s0, sample.observations[s0.id]) is True
        assert led.add_scene(s0, sample.observations[s0.id]) is False
        assert led.has_scene(s0.id)
        for s in sample.scenes[1:]:
            led.add_scene(s, sample.observations[s.id])
        got = led.scenes()
        assert got == sample.scenes
        assert got[0].acquired.tzinfo is not None
        assert led.scene(s0.id) == s0
        assert led.scene("nope") is None
        want_obs = sorted(
            (o for s in sample.scenes for o in sample.observations[s.id]),
            key=lambda o: (o.acquired, o.berth),
        )
        assert led.observations([PORT]) == want_obs
        assert led.observations(["other-port"]) == []
        assert led.counts()["observations"] == 2 * len(sample.scenes)
        # date filters are inclusive; a date means the whole day
        day = sample.scenes[2].acquired.date()
        assert [s.id for s in led.scenes(start=day, end=day)] == [sample.scenes[2].id]
        assert len(led.scenes([PORT], start=sample.scenes[3].acquired)) == len(sample.scenes) - 3
        assert led.scenes(end="2000-01-01") == []


def test_observation_for_another_scene_is_refused(db_url, sample):
    with Ledger(db_url) as led:
        s0, s1 = sample.scenes[:2]
        with pytest.raises(ValueError):
            led.add_scene(s0, sample.observations[s1.id])
        assert not led.has_scene(s0.id)


def test_skips_are_recorded_once(db_url):
    with Ledger(db_url) as led:
        led.add_skip("sim/bad-scene", PORT, "sim", "unreadable GeoTIFF")
        led.add_skip("sim/bad-scene", PORT, "sim", "unreadable GeoTIFF")
        assert led.has_skip("sim/bad-scene") and not led.has_skip("other")
        (row,) = led.skips()
        assert row["reason"] == "unreadable GeoTIFF"
        assert led.skips(["elsewhere"]) == []


def test_detections_once_per_scene_and_model(db_url, sample):
    with Ledger(db_url) as led:
        for s in sample.scenes:
            led.add_scene(s, sample.observations[s.id])
        sid = next(k for k, v in sample.detections.items() if v)
        dets = sample.detections[sid]
        assert not led.scene_done(sid, MODEL)
        assert led.add_detections(sid, MODEL, dets) is True
        assert led.add_detections(sid, MODEL, dets) is False
        assert led.scene_done(sid, MODEL) and not led.scene_done(sid, "other-model")
        assert led.detections() == dets
        assert led.detections([PORT], MODEL) == dets
        assert led.detections(model="other-model") == []
        assert led.detections(["elsewhere"]) == []
        assert led.detections(ids=[dets[0].id]) == [dets[0]]
        # a scene with no detections is still marked processed
        empty = next(k for k, v in sample.detections.items() if not v)
        assert led.add_detections(empty, MODEL, []) is True
        assert led.processed_scenes(MODEL) == {sid, empty}
        with pytest.raises(ValueError):
            led.add_detections(empty, "another", dets)


def test_begin_run_is_deterministic(db_url):
    with Ledger(db_url) as led:
        a = led.begin_run({"b": 1, "a": [1, 2]}, "m1")
        assert led.begin_run({"a": [1, 2], "b": 1}, "m1") == a
        assert a == run_id_for({"a": [1, 2], "b": 1}, "m1")
        b = led.begin_run({"a": [1, 2], "b": 1}, "m2")
        c = led.begin_run({"a": [1, 2], "b": 2}, "m1")
        assert len({a, b, c}) == 3
        assert [r.id for r in led.runs()] == [a, b, c]
        assert led.run(a).config == {"a": [1, 2], "b": 1}
        assert led.latest_run().id == c  # nothing estimated yet: the last run begun


def test_save_estimate_is_idempotent_and_keeps_evidence(db_url, sample):
    with Ledger(db_url) as led:
        run_id = fill(led, sample)
        first = snapshot(db_url)
        fill(led, sample)  # everything again: nothing changes
        assert snapshot(db_url) == first
        got = led.deliveries()
        assert [d.id for d in got] == sorted(d.id for d in sample.deliveries)
        assert all(d.run_id == run_id and d.superseded_by is None for d in got)
        assert led.visits() == sample.visits
        assert led.coverage() == sample.coverage
        ev = led.evidence(got)
        by_visit = {v.id: v for v in sample.visits}
        scene_of = {d.id: d.scene_id for ds in sample.detections.values() for d in ds}
        for d in got:
            want = sorted(by_visit[d.load_visit].evidence)
            assert ev[d.id]["detections"] == want
            assert ev[d.id]["scenes"] == sorted({scene_of[i] for i in want})


def test_new_run_supersedes_and_old_figures_stay(db_url, sample):
    with Ledger(db_url) as led:
        old = fill(led, sample, config={"v": 1})
        old_deliveries = led.deliveries(old)
        retrained = copy.deepcopy(sample)
        for d in retrained.deliveries:
            d.barrels_p50 *= 1.1
        new = fill(led, retrained, config={"v": 2})
        assert new != old
        assert {d.run_id for d in led.current_deliveries()} == {new}
        kept = led.deliveries(old)
        assert [d.id for d in kept] == [d.id for d in old_deliveries]
        assert {d.superseded_by for d in kept} == {new}
        assert [d.barrels_p50 for d in kept] == [d.barrels_p50 for d in old_deliveries]
        assert len(led.deliveries(include_superseded=True)) == 2 * len(sample.deliveries)
        assert led.latest_run().id == new and led.run(old).superseded_by == new
        assert led.visits(old) == sample.visits
        # the old config again makes the old run current again, with identical figures
        fill(led, sample, config={"v": 1})
        assert {d.run_id for d in led.current_deliveries()} == {old}
        assert led.latest_run().id == old and led.run(new).superseded_by == old
        assert {d.superseded_by for d in led.deliveries(new)} == {old}


def test_new_imagery_extends_the_run(db_url):
    short, full = build(seed=5, n_scenes=8), build(seed=5, n_scenes=16)
    with Ledger(db_url) as led:
        r1 = fill(led, short)
        n_short = len(led.deliveries())
        r2 = fill(led, full)
        assert r1 == r2
        assert len(led.deliveries()) == len(full.deliveries) >= n_short
        assert led.counts()["scenes"] == 16


def test_save_estimate_needs_a_begun_run_and_known_visits(db_url, sample):
    with Ledger(db_url) as led:
        with pytest.raises(ValueError, match="not begun"):
            led.save_estimate("nope", sample.visits, sample.deliveries, {})
        run_id = led.begin_run({}, MODEL)
        with pytest.raises(ValueError, match="load visit"):
            led.save_estimate(run_id, [], sample.deliveries, {})
        assert led.counts()["deliveries"] == 0


def test_url_resolution(monkeypatch, tmp_path):
    monkeypatch.delenv("TANKERWATCH_DB_URL", raising=False)
    assert resolve_url(None) == "sqlite:///tankerwatch.db"
    monkeypatch.setenv("TANKERWATCH_DB_URL", "postgresql://u:p@h/db")
    assert resolve_url(None) == "postgresql+psycopg://u:p@h/db"
    assert resolve_url(tmp_path / "x.db") == f"sqlite:///{tmp_path / 'x.db'}"
    assert mask_url("postgresql+psycopg://u:secret@h/db") == "postgresql+psycopg://u:***@h/db"


def test_env_url_is_used(monkeypatch, tmp_path):
    monkeypatch.setenv("TANKERWATCH_DB_URL", f"sqlite:///{tmp_path / 'env.db'}")
    with Ledger() as led:
        assert led.path == tmp_path / "env.db"
    assert (tmp_path / "env.db").exists()


def test_unreachable_url_is_one_line_without_password():
    with pytest.raises(TankerWatchError) as err:
        Ledger("postgresql://tw:s3cret@127.0.0.1:1/nowhere")
    msg = str(err.value)
    assert "\n" not in msg and "s3cret" not in msg
    assert "127.0.0.1:1/nowhere" in msg and "***" in msg


def test_unsupported_or_bad_url():
    with pytest.raises(TankerWatchError, match="unsupported"):
        Ledger("mysql://u@h/db")
    with pytest.raises(TankerWatchError, match="in-memory"):
        Ledger("sqlite://")


def test_newer_schema_is_refused_and_left_alone(db_url, sample):
    with Ledger(db_url) as led:
        fill(led, sample)
    before = snapshot(db_url)
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099'"))
    engine.dispose()
    with pytest.raises(TankerWatchError, match="schema 0099, newer than this TankerWatch") as err:
        Ledger(db_url)
    assert "\n" not in str(err.value)
    assert snapshot(db_url) == before


def test_older_schema_is_upgraded_not_recreated(db_url, sample):
    from alembic import command

    from pipeline.ledger.engine import MIGRATIONS_DIR

    engine = sa.create_engine(db_url)
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    s = sample.scenes[0]
    with engine.begin() as conn:
        cols = {c["name"] for c in sa.inspect(conn).get_columns("runs")}
        assert "coverage" not in cols  # really the older schema
        conn.execute(
            sa.text(
                "INSERT INTO scenes (id, source, sensor, acquired_utc, port, path, crs, gsd_m,"
                " bands, valid_fraction, cloud_fraction, width, height) VALUES (:id, 'sim', 'S2A',"
                " :t, :port, '/x.tif', 'EPSG:32653', 10, '[\"B02\"]', 1, 0, 8, 8)"
            ),
            {"id": s.id, "t": datetime(2024, 3, 1, 2, tzinfo=UTC), "port": PORT},
        )
        conn.execute(
            sa.text(
                "INSERT INTO runs (id, config, config_hash, model, code_version, created_utc)"
                " VALUES ('r-old', '{}', 'h', 'm', '0.0.1', :t)"
            ),
            {"t": datetime(2024, 3, 1, tzinfo=UTC)},
        )
    engine.dispose()
    with Ledger(db_url) as led:
        assert led.schema_revision() == HEAD
        (got,) = led.scenes()
        assert got.id == s.id and got.bands == ["B02"]
        assert led.run("r-old").coverage is None
        fill(led, sample)  # and the upgraded ledger takes the rest
        assert led.counts()["scenes"] == len(sample.scenes)


def test_read_only_file(tmp_path, sample):
    path = tmp_path / "ro.db"
    with Ledger(path) as led:
        fill(led, sample)
    before = path.read_bytes()
    path.chmod(0o444)
    try:
        with pytest.raises(TankerWatchError, match="read-only") as err:
            Ledger(path)
        assert "\n" not in str(err.value) and str(path) in str(err.value)
        with Ledger(path, readonly=True) as led:  # exports and reports still read it
            assert len(led.deliveries()) == len(sample.deliveries)
            with pytest.raises(TankerWatchError, match="read-only"):
                led.add_skip("k", PORT, "sim", "x")
    finally:
        path.chmod(0o644)
    assert path.read_bytes() == before


def test_readonly_open_of_missing_file(tmp_path):
    with pytest.raises(TankerWatchError, match="no such file"):
        Ledger(tmp_path / "missing.db", readonly=True)
    assert not (tmp_path / "missing.db").exists()


def test_readonly_open_of_older_schema_is_an_error(tmp_path):
    from alembic import command
    from alembic.config import Config

    from pipeline.ledger.engine import MIGRATIONS_DIR

    path = tmp_path / "old.db"
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    engine.dispose()
    with pytest.raises(TankerWatchError, match="older than this TankerWatch"):
        Ledger(path, readonly=True)
    with Ledger(path) as led:
        assert led.schema_revision() == HEAD


def test_schema_module_matches_migrations(db_url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from pipeline.ledger import schema

    Ledger(db_url).close()
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = compare_metadata(ctx, schema.metadata)
    engine.dispose()
    assert diff == []


def test_scene_record_fields_are_all_stored():
    # a new field on records.Scene must reach the ledger (and a migration)
    from pipeline.ledger import schema

    stored = {c.name.removesuffix("_utc") for c in schema.scenes.columns}
    assert {f for f in Scene.__dataclass_fields__} <= stored


def test_open_for_reading_never_creates_a_ledger(db_url):
    from pipeline.ledger.store import open_for_reading

    with pytest.raises(TankerWatchError, match="no such file|no TankerWatch ledger"):
        open_for_reading(db_url)
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        assert sa.inspect(conn).get_table_names() == []
    engine.dispose()


def test_open_for_reading_upgrades_an_older_writable_ledger(db_url):
    from alembic import command
    from alembic.config import Config

    from pipeline.ledger.engine import MIGRATIONS_DIR
    from pipeline.ledger.store import open_for_reading

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    engine.dispose()
    with open_for_reading(db_url) as led:
        assert led.schema_revision() == HEAD and led.deliveries() == []


def test_many_detection_ids_and_odd_paths(tmp_path, sample):
    path = tmp_path / "a dir with #, ? and %" / "ledger.db"
    with Ledger(path) as led:
        fill(led, sample)
        dets = led.detections()
        got = led.detections(ids=[d.id for d in dets] + [f"missing-{i}" for i in range(1200)])
        assert got == dets
    with Ledger(path, readonly=True) as led:
        assert len(led.detections()) == len(dets)


def test_postgresql_user_without_write_rights(pg_schema_url, sample):
    """A read-only database role: one line naming the URL (no password), nothing changed."""
    import uuid

    role = f"tw_ro_{uuid.uuid4().hex[:8]}"
    schema = pg_schema_url.rsplit("%3D", 1)[1]
    with Ledger(pg_schema_url) as led:
        fill(led, sample)
    before = snapshot(pg_schema_url)
    admin = sa.create_engine(pg_schema_url)
    with admin.begin() as conn:
        conn.execute(sa.text(f"CREATE ROLE {role} LOGIN PASSWORD 'pw-{role}'"))
        conn.execute(sa.text(f'GRANT USAGE ON SCHEMA "{schema}" TO {role}'))
        conn.execute(sa.text(f'GRANT SELECT ON ALL TABLES IN SCHEMA "{schema}" TO {role}'))
    url = pg_schema_url.replace("postgres@", f"{role}:pw-{role}@", 1)
    try:
        with Ledger(url) as led:  # reading works
            assert len(led.deliveries()) == len(sample.deliveries)
            with pytest.raises(TankerWatchError, match="may not do this") as err:
                led.add_skip("k", PORT, "sim", "x")
        assert f"pw-{role}" not in str(err.value) and "\n" not in str(err.value)
    finally:
        with admin.begin() as conn:
            conn.execute(sa.text(f'REVOKE ALL ON ALL TABLES IN SCHEMA "{schema}" FROM {role}'))
            conn.execute(sa.text(f'REVOKE USAGE ON SCHEMA "{schema}" FROM {role}'))
            conn.execute(sa.text(f"DROP ROLE {role}"))
        admin.dispose()
    assert snapshot(pg_schema_url) == before


def test_every_record_field_has_a_ledger_column():
    # records are mapped to rows in one place (pipeline.ledger.rows): a field without a column
    # would be silently lost (as Visit.length_sigma_m was before schema 0003)
    import dataclasses

    from pipeline.ledger import rows

    for cls, table in rows.TABLES.items():
        fields = [f.name for f in dataclasses.fields(cls)]
        columns = {c.name for c in table.columns}
        missing = [f for f in fields if rows.column(f) not in columns]
        assert not missing, f"{cls.__name__} fields without a column in {table.name}: {missing}"
        extra = columns - {rows.column(f) for f in fields}
        # detections.persistent is the runner's verdict over many scenes (0007), not a field of
        # one detection: set by Ledger.set_persistent, read by Ledger.persistent
        allowed = {"run_id"} | ({"persistent"} if table.name == "detections" else set())
        assert extra <= allowed, f"{table.name} columns of no {cls.__name__} field: {extra}"
    every_field = {f.name for cls in rows.TABLES for f in dataclasses.fields(cls)}
    assert set(rows.RENAMES) <= every_field  # the rename table names real fields only


def test_visits_keep_their_error_sizes(db_url, sample):
    with Ledger(db_url) as led:
        run_id = fill(led, sample)
        got = {v.id: v for v in led.visits(run_id)}
    assert all(v.length_sigma_m > 0 for v in sample.visits)
    assert all(v.sightings for v in sample.visits)
    for v in sample.visits:
        assert (got[v.id].length_sigma_m, got[v.id].beam_sigma_m) == (
            v.length_sigma_m,
            v.beam_sigma_m,
        )
        assert got[v.id].sightings == v.sightings


def test_upgrade_to_0003_gives_stored_visits_unknown_error_sizes(db_url):
    from alembic import command
    from alembic.config import Config

    from pipeline.ledger.engine import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
        conn.execute(
            sa.text(
                "INSERT INTO runs (id, config, config_hash, model, code_version, created_utc)"
                " VALUES ('r-old', '{}', 'h', 'm', '0.0.1', :t)"
            ),
            {"t": datetime(2024, 3, 1, tzinfo=UTC)},
        )
        conn.execute(
            sa.text(
                "INSERT INTO visits (run_id, id, port, berth, vessel_key, first_seen_utc,"
                " last_seen_utc, n_obs, length_m, beam_m, evidence, role) VALUES ('r-old', 'v1',"
                " :port, 'oil-1', 'L100', :t, :t, 1, 100, 16, '[]', 'load')"
            ),
            {"t": datetime(2024, 3, 1, tzinfo=UTC), "port": PORT},
        )
    engine.dispose()
    with Ledger(db_url) as led:
        assert led.schema_revision() == HEAD
        (v,) = led.visits("r-old")
    assert (v.length_m, v.length_sigma_m, v.beam_sigma_m) == (100.0, 0.0, 0.0)
    assert v.sightings == []  # schema 0004: older visits have no sighting list (unknown)


def test_the_estimates_notes_are_kept_with_the_run(db_url, sample):
    with Ledger(db_url) as led:
        run_id = fill(led, sample)
        assert led.run(run_id).notes == sample.notes
        assert led.latest_run().notes == sample.notes
        # saving the run again replaces its notes with the new estimate's
        led.save_estimate(run_id, sample.visits, sample.deliveries, sample.coverage, ["other"])
        assert led.run(run_id).notes == ["other"]
        led.save_estimate(run_id, sample.visits, sample.deliveries, sample.coverage)
        assert led.run(run_id).notes == []  # an estimate without notes: none, not the old ones
        assert led.run(led.begin_run({"x": 1}, MODEL)).notes is None  # begun, not estimated


def test_visits_keep_their_sightings(db_url, sample):
    for i, v in enumerate(sample.visits):
        v.sightings = [f"scene-{i}-{k}" for k in range(v.n_obs)]
    with Ledger(db_url) as led:
        run_id = fill(led, sample)
        assert led.visits(run_id) == sample.visits


def test_upgrade_to_0005_keeps_runs_and_visits(db_url):
    from alembic import command
    from alembic.config import Config

    from pipeline.ledger.engine import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = sa.create_engine(db_url)
    t = datetime(2024, 3, 1, tzinfo=UTC)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0003")
        conn.execute(
            sa.text(
                "INSERT INTO runs (id, config, config_hash, model, code_version, created_utc,"
                " estimated_utc, coverage) VALUES ('r-old', '{}', 'h', 'm', '0.0.1', :t, :t, '{}')"
            ),
            {"t": t},
        )
        conn.execute(
            sa.text(
                "INSERT INTO visits (run_id, id, port, berth, vessel_key, first_seen_utc,"
                " last_seen_utc, n_obs, length_m, beam_m, evidence, role) VALUES ('r-old', 'v1',"
                " :port, 'oil-1', 'L100', :t, :t, 1, 100, 16, '[]', 'load')"
            ),
            {"t": t, "port": PORT},
        )
    engine.dispose()
    with Ledger(db_url) as led:
        assert led.schema_revision() == HEAD
        run = led.run("r-old")
        (v,) = led.visits("r-old")
    assert run.notes is None and run.coverage == {}  # notes were not kept before 0005
    assert v.sightings == [] and v.length_m == 100.0


def test_persistent_verdicts_are_kept_and_replaced(db_url, sample):
    with Ledger(db_url) as led:
        for s in sample.scenes:
            led.add_scene(s, sample.observations[s.id])
        for sid, dets in sample.detections.items():
            led.add_detections(sid, MODEL, dets)
        every = [d for ds in sample.detections.values() for d in ds]
        scenes = [s.id for s in sample.scenes]
        assert led.persistent() == {}
        flags = {every[0].id: "persistent: a pontoon", every[1].id: "persistent: a dolphin"}
        assert led.set_persistent(scenes, flags) == 2
        assert led.persistent() == flags
        assert led.persistent(ports=["elsewhere"]) == {}
        assert led.persistent(scene_ids=[every[0].scene_id]) == {
            k: v
            for k, v in flags.items()
            if k in {d.id for d in sample.detections[every[0].scene_id]}
        }
        # the detections themselves are unchanged: flagged, not removed
        assert led.detections() == sorted(every, key=lambda d: (d.scene_id, d.id))
        # a later verdict over the same scenes replaces the earlier one
        assert led.set_persistent(scenes, {every[1].id: "persistent: a dolphin"}) == 1
        assert led.persistent() == {every[1].id: "persistent: a dolphin"}


def test_upgrade_to_0007_keeps_detections_unflagged(db_url, sample):
    from alembic import command
    from alembic.config import Config

    from pipeline.ledger.engine import MIGRATIONS_DIR

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    engine = sa.create_engine(db_url)
    d = next(d for ds in sample.detections.values() for d in ds)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0006")
        conn.execute(
            sa.text(
                "INSERT INTO detections (id, scene_id, model, geometry_wkt, lon, lat, length_m,"
                " beam_m, heading_deg, score, cls) VALUES (:id, :s, :m, :g, :lon, :lat, 90, 15,"
                " 0, 0.9, 'tanker')"
            ),
            {"id": d.id, "s": d.scene_id, "m": MODEL, "g": d.geometry, "lon": d.lon, "lat": d.lat},
        )
    engine.dispose()
    with Ledger(db_url) as led:
        assert led.schema_revision() == HEAD
        assert [x.id for x in led.detections()] == [d.id]
        assert led.persistent() == {}
