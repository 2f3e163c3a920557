"""Shared by benchmarks/port_trace.py and benchmarks/persistent_objects.py: a scenario simulated,
ingested and detected with the released detectors into a ledger (``pipeline.run``), reused when
its folder already holds it."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.demo import SENSOR_MODELS  # noqa: E402


def write_scenario(sc, path: Path) -> Path:
    import yaml

    from pipeline.simulate.scenario import load_scenario

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(sc.model_dump(mode="json"), sort_keys=False))
    load_scenario(path)
    return path


def simulate_and_detect(sc, work: Path) -> tuple[Path, str]:
    """(simulation folder, ledger URL): ``sc`` simulated into WORK/simulation and run through
    ingest, the released detectors (one per sensor, as the demo), port calls and estimate into
    WORK/ledger.db. A finished folder is reused (``WORK/done`` written last)."""
    from pipeline.run import RunConfig, SourceSpec, run_pipeline
    from pipeline.simulate import simulate
    from pipeline.simulate.scenario import load_scenario

    work = work.resolve()
    sim = work / "simulation"
    db = f"sqlite:///{work / 'ledger.db'}"
    if (work / "done").exists():
        return sim, db
    sc = load_scenario(write_scenario(sc, work / "scenario.yaml"))
    simulate(sc, sim)
    cfg = RunConfig(
        name=f"bench-{sc.name}",
        ports=sorted({sc.load_port, *(d.port for d in sc.discharge)}),
        start=sc.start,
        end=sc.end,
        sources=[SourceSpec(source="simulated", path=str(sim))],
        models=SENSOR_MODELS,
        db=db,
        cache=str(work / "cache"),
        registry=str(sim / "truth" / "fleet.csv"),
    )
    run_pipeline(cfg, progress=False)
    (work / "done").write_text("ok\n")
    return sim, db
