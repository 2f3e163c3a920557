"""The `tankerwatch simulate` verb."""

from __future__ import annotations

from pathlib import Path

import typer


def simulate(
    scenario: Path = typer.Option(
        None,
        "--scenario",
        help="Scenario YAML (default: configs/scenarios/vostochny-dprk-2024.yaml).",
    ),
    out: Path = typer.Option(..., "--out", help="Output folder (created; must be new or empty)."),
    seed: int = typer.Option(None, "--seed", help="Random seed (default: the scenario's seed)."),
    chips: int = typer.Option(
        None,
        "--chips",
        help="Instead of a scenario, write N randomised training chips into --out.",
    ),
    chip_size: int = typer.Option(256, "--chip-size", help="Chip side in pixels (with --chips)."),
    sensors: str = typer.Option(
        None, "--sensors", help="With --chips: comma-separated sensors (default: all simulated)."
    ),
    port_p: float = typer.Option(
        0.5, "--port-p", help="With --chips: share of chips in a configured port (0-1)."
    ),
    berth_p: float = typer.Option(
        0.55, "--berth-p", help="With --chips: share of the port chips centred on a berth (0-1)."
    ),
) -> None:
    """Simulate a scenario (scenes + truth), or write training chips with --chips N."""
    import json

    from pipeline.errors import TankerWatchError

    if chips is not None:
        if scenario is not None:
            raise TankerWatchError("--chips and --scenario: give one or the other")
        from pipeline.simulate.chips import write_chips

        opts = (
            {"sensors": tuple(s.strip() for s in sensors.split(",") if s.strip())}
            if sensors
            else {}
        )
        opts |= {"port_p": port_p, "berth_p": berth_p}
        paths = write_chips(out, chips, seed=seed or 0, size_px=chip_size, progress=True, **opts)
        n_labels = sum(
            len(json.loads((p / "labels.geojson").read_text())["features"]) for p in paths
        )
        typer.echo(f"wrote {len(paths)} chips with {n_labels} labelled vessels to {out}")
        return
    from pipeline.simulate import simulate as run_simulation

    done = run_simulation(scenario, out, seed=seed, progress=True)
    m = json.loads((done / "simulation.json").read_text())
    typer.echo(
        f"simulated {m['scenario']} (seed {m['seed']}): {m['scenes']} scenes, "
        f"{m['load_calls']} load calls, {m['deliveries']} deliveries -> {done}"
    )
