"""`tankerwatch run`: the chained pipeline over the ledger, local and Dask executors."""

from __future__ import annotations

import yaml

from pipeline.ledger.store import Ledger
from pipeline.run import RunConfig, SourceSpec, run_pipeline


def _config(sim, db, cache, **kw) -> RunConfig:
    return RunConfig(
        name="tiny",
        ports=["vostochny", "rajin"],
        start="2024-06-01",
        end="2024-06-21",
        sources=[SourceSpec(source="simulated", path=str(sim))],
        model="baseline",  # the classical detector: no trained weights needed
        db=db,
        cache=str(cache),
        registry=str(sim / "truth" / "fleet.csv"),
        **kw,
    )


def _state(db):
    with Ledger(db) as ledger:
        dets = sorted((d.id, d.scene_id, round(d.length_m, 3)) for d in ledger.detections())
        dels = sorted(
            (d.id, d.vessel, round(d.barrels_p50, 1)) for d in ledger.current_deliveries()
        )
        return ledger.counts(), dets, dels


def test_run_is_idempotent_and_dask_matches_local(small_simulation, tmp_path):
    local_db = f"sqlite:///{tmp_path / 'local.db'}"
    first = run_pipeline(_config(small_simulation, local_db, tmp_path / "c1"), progress=False)
    assert first.scenes > 0 and first.scenes_new == first.scenes
    assert not first.failed
    state = _state(local_db)

    again = run_pipeline(_config(small_simulation, local_db, tmp_path / "c1"), progress=False)
    assert again.scenes_new == 0  # nothing re-detected
    assert again.run_id == first.run_id
    assert _state(local_db) == state  # and nothing added

    dask_db = f"sqlite:///{tmp_path / 'dask.db'}"
    cfg = _config(small_simulation, dask_db, tmp_path / "c2", executor="dask", workers=2)
    on_dask = run_pipeline(cfg, progress=False)
    assert on_dask.run_id == first.run_id  # where it ran does not change the run
    assert _state(dask_db) == state


def test_one_model_per_sensor(small_simulation, tmp_path, cli):
    """models: {sensor: bundle} detects each sensor's scenes with its own detector; the run
    names both, a rerun detects nothing, and the ledger's mix is accepted downstream."""
    db = f"sqlite:///{tmp_path / 'l.db'}"
    cfg = _config(small_simulation, db, tmp_path / "c", models={"commercial-3m": "tw-centernet-s2"})
    first = run_pipeline(cfg, progress=False)
    assert not first.failed
    from pipeline.detect.bundle import load_detector

    ids = {name: load_detector(name).model_id for name in ("baseline", "tw-centernet-s2")}
    with Ledger(db) as ledger:
        sensor = {s.id: s.sensor for s in ledger.scenes()}
        processed = {
            name: {sensor[sid] for sid in ledger.processed_scenes(mid)} for name, mid in ids.items()
        }
        models = {(sensor[d.scene_id], d.model) for d in ledger.detections()}
    assert processed == {"baseline": {"sentinel-2-l2a"}, "tw-centernet-s2": {"commercial-3m"}}
    assert models <= {
        ("sentinel-2-l2a", ids["baseline"]),
        ("commercial-3m", ids["tw-centernet-s2"]),
    }
    again = run_pipeline(cfg, progress=False)
    assert again.scenes_new == 0 and again.run_id == first.run_id
    res = cli("portcalls", "--db", db, "--ports", "vostochny,rajin", "--out", tmp_path / "v.csv")
    assert res.returncode == 0, res.stderr


def _write_run(tmp_path, **overrides):
    doc = {
        "name": "x",
        "ports": ["vostochny"],
        "start": "2024-06-01",
        "end": "2024-06-21",
        "sources": [{"source": "simulated", "path": str(tmp_path)}],
    }
    doc.update(overrides)
    d = tmp_path / "runs"
    d.mkdir(exist_ok=True)
    path = d / "bad.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _one_line_exit_2(res, *needles):
    assert res.returncode == 2, res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, res.stderr
    for n in needles:
        assert n in lines[0]


def test_run_config_with_unknown_port(cli, tmp_path):
    path = _write_run(tmp_path, ports=["atlantis"])
    _one_line_exit_2(cli("run", "--config", path), str(path), "ports", "unknown port 'atlantis'")


def test_run_config_with_unknown_source(cli, tmp_path):
    path = _write_run(tmp_path, sources=[{"source": "ftp"}])
    _one_line_exit_2(cli("run", "--config", path), str(path), "sources.0.source")


def test_run_config_end_before_start(cli, tmp_path):
    path = _write_run(tmp_path, end="2024-01-01")
    _one_line_exit_2(cli("config", "check", path), "end", "before start")


def test_unreachable_scheduler(cli, small_simulation, tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = _write_run(
        tmp_path,
        sources=[{"source": "simulated", "path": str(small_simulation)}],
        model="baseline",
        db=f"sqlite:///{tmp_path / 'l.db'}",
        cache=str(tmp_path / "cache"),
    )
    res = cli("run", "--config", path, "--scheduler", f"tcp://127.0.0.1:{port}")
    _one_line_exit_2(res, f"tcp://127.0.0.1:{port}", "does not answer")


def test_estimate_db_and_run_share_the_run_id_recipe(small_simulation, tmp_path, cli):
    """One run-id recipe: `estimate --db` over the records a run used (same ports, period,
    parameters, registry, seed) is that run, not a second one; `portcalls --db` rebuilds its
    visits."""
    import csv

    db = f"sqlite:///{tmp_path / 'l.db'}"
    first = run_pipeline(_config(small_simulation, db, tmp_path / "c"), progress=False)
    with Ledger(db) as ledger:
        stored = {v.id for v in ledger.visits(first.run_id)}
        deliveries = sorted(d.id for d in ledger.current_deliveries())
    period = ("--ports", "vostochny,rajin", "--start", "2024-06-01", "--end", "2024-06-21")
    res = cli(
        "estimate", "--db", db, *period, "--registry", small_simulation / "truth" / "fleet.csv"
    )
    assert res.returncode == 0, res.stderr
    assert f"run {first.run_id} saved" in res.stdout
    with Ledger(db) as ledger:
        assert [r.id for r in ledger.runs()] == [first.run_id]
        assert sorted(d.id for d in ledger.current_deliveries()) == deliveries
    res = cli("portcalls", "--db", db, *period, "--out", tmp_path / "v.csv")
    assert res.returncode == 0, res.stderr
    with (tmp_path / "v.csv").open() as fh:
        assert {r["id"] for r in csv.DictReader(fh)} == stored
    # another input (here: another seed) is another run
    res = cli("estimate", "--db", db, *period, "--seed", "1", "--registry",
              small_simulation / "truth" / "fleet.csv")  # fmt: skip
    assert res.returncode == 0, res.stderr
    with Ledger(db) as ledger:
        assert len(ledger.runs()) == 2


def test_start_and_end_select_ledger_scenes_only(cli, tmp_path):
    res = cli("portcalls", "--start", "2024-06-01", "--out", tmp_path / "v.csv")
    assert res.returncode == 2 and "--db" in res.stderr


def test_scene_task_repr_hides_the_ledger_password():
    from pipeline.run.detect import SceneTask

    url = "postgresql+psycopg://tw:S3cretPW@db.example/tw"
    task = SceneTask("s1", "/x/scene.tif", "rajin", url, "baseline", True)
    assert task.db_url == url and "S3cretPW" not in repr(task)
    cfg = RunConfig(
        name="x",
        ports=["rajin"],
        start="2024-06-01",
        end="2024-06-02",
        sources=[SourceSpec(source="simulated", path="/x")],
        db=url,
    )
    assert "S3cretPW" not in repr(cfg)


def test_failed_scene_is_one_line_and_the_password_never_shows(
    cli, small_simulation, tmp_path, pg_schema_url
):
    """A scene that cannot be read fails its detection: one warning line, also on Dask (no
    worker "Compute Failed" block), and the ledger URL's password is never printed, not even
    with --debug (the task's repr used to carry it)."""
    from pipeline.config import load_ports
    from pipeline.ingest import ingest

    db = pg_schema_url.replace("postgresql+psycopg://postgres@", "postgresql://postgres:S3cretPW@")
    cache = tmp_path / "cache"
    with Ledger(db) as ledger:
        ingest(
            load_ports(["rajin"]),
            "2024-06-01",
            "2024-06-21",
            "simulated",
            ledger,
            cache,
            path=small_simulation,
        )
        broken = ledger.scenes(ports=["rajin"])[0]
    data = open(broken.path, "rb").read(300)
    open(broken.path, "wb").write(data)  # a cut-short file: the header, no image
    path = _write_run(
        tmp_path,
        ports=["rajin"],
        sources=[{"source": "simulated", "path": str(small_simulation)}],
        model="baseline",
        cache=str(cache),
        registry=str(small_simulation / "truth" / "fleet.csv"),
    )

    def failure_lines(res):
        assert res.returncode == 0, res.stderr
        assert "S3cretPW" not in res.stderr + res.stdout
        return [ln for ln in res.stderr.splitlines() if "not processed" in ln]

    lines = failure_lines(cli("--debug", "run", "--config", path, "--db", db))
    assert len(lines) == 1 and broken.id in lines[0] and "cannot read raster" in lines[0]
    # the scene is still to do: Dask tries it again
    res = cli("run", "--config", path, "--db", db, "--executor", "dask", "--workers", "1")
    lines = failure_lines(res)
    assert len(lines) == 1 and lines[0].startswith(f"warning: scene {broken.id} not processed:")
    assert "cannot read raster" in lines[0]
    assert "Compute Failed" not in res.stderr and "Traceback" not in res.stderr


def test_run_and_estimate_db_give_the_same_inputs_the_same_run(small_simulation, tmp_path, cli):
    """One run-id recipe: `estimate --db` over the ledger a `run` filled, with the run's ports,
    period, registry, parameters and seed, is that run (no second run), and keeps its notes."""
    import re

    db = f"sqlite:///{tmp_path / 'l.db'}"
    cfg = _config(small_simulation, db, tmp_path / "c")
    first = run_pipeline(cfg, progress=False)
    assert not first.failed
    with Ledger(db) as ledger:
        notes = ledger.run(first.run_id).notes
    assert notes and any("dwell median" in n for n in notes)  # saved with the run

    res = cli(
        "estimate",
        "--db",
        db,
        "--ports",
        ",".join(cfg.ports),
        "--start",
        str(cfg.start),
        "--end",
        str(cfg.end),
        "--registry",
        cfg.registry,
        "--caps",
        tmp_path / "caps.csv",
    )
    assert res.returncode == 0, res.stderr
    assert re.search(rf"run {first.run_id} saved to the ledger", res.stdout), res.stdout
    with Ledger(db) as ledger:
        assert [r.id for r in ledger.runs()] == [first.run_id]
        assert ledger.run(first.run_id).notes == notes
        assert ledger.run(first.run_id).coverage == first.coverage
    # estimate --caps writes what export caps writes
    res = cli("export", "caps", "--db", db, "--out", tmp_path / "exported.csv")
    assert res.returncode == 0, res.stderr
    assert (tmp_path / "caps.csv").read_text() == (tmp_path / "exported.csv").read_text()
    assert ",corrected," in (tmp_path / "caps.csv").read_text()


def test_ledger_records_hold_one_scene_per_pass(tmp_path):
    """The same Sentinel-1 pass ingested from two sources is one look at the berths, in the
    inputs of port calls and in the observations the estimate counts."""
    from datetime import timedelta

    from pipeline.config import load_port
    from pipeline.run.steps import ledger_inputs, ledger_observations
    from tests.portcalls.builders import Builder

    b = Builder()
    hub = b.scene(10, sensor="sentinel-1-grd", source="sentinelhub")
    pc = b.scene(10 + 9 / 3600, sensor="sentinel-1-grd", source="planetary-computer")
    later = b.scene(10 + 96, sensor="sentinel-1-grd", source="planetary-computer")
    for s in (hub, pc, later):
        b.vessel(s, 100, 16)
    db = f"sqlite:///{tmp_path / 'l.db'}"
    with Ledger(db) as ledger:
        for s in b.scenes:
            ledger.add_scene(s, [o for o in b.observations if o.scene_id == s.id])
        for s in b.scenes:
            ledger.add_detections(s.id, "test", [d for d in b.detections if d.scene_id == s.id])
        port = [load_port("vostochny")]
        inputs = ledger_inputs(ledger, port)
        obs = ledger_observations(ledger, port, start=(b.scenes[0].acquired - timedelta(days=1)))
    assert {s.id for s in inputs.scenes} == {hub.id, later.id}
    assert {d.scene_id for d in inputs.detections} == {hub.id, later.id}
    assert {o.scene_id for o in obs} == {hub.id, later.id}
