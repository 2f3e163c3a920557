"""`tankerwatch detect`, `train` and `evaluate`: the detect stage's verbs."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import typer

log = logging.getLogger(__name__)

PRECISION_HELP = (
    "Inference precision: auto (bf16 on CPUs with AMX / AVX-512 BF16 and on CUDA, else fp32), "
    "fp32, bf16 or fp16; default: the bundle's inference.precision."
)


def _precision(value: str | None) -> str | None:
    from pipeline.detect.precision import PRECISIONS
    from pipeline.errors import TankerWatchError

    if value is not None and value.lower() not in PRECISIONS:
        raise TankerWatchError(f"--precision {value}: unknown (use one of {', '.join(PRECISIONS)})")
    return value.lower() if value else None


def detect(
    scenes: list[Path] = typer.Argument(..., help="Scene GeoTIFFs (or dataset scene folders)."),
    out: Path = typer.Option(..., "--out", "-o", help="Output .geojson, .parquet or .gpkg."),
    model: str = typer.Option(None, "--model", "-m", help="Bundle name/folder, or 'baseline'."),
    port: str = typer.Option(None, "--port", help="Port config whose land polygons mask out."),
    chips: Path = typer.Option(None, "--chips", help="Folder for PNG evidence chips."),
    precision: str = typer.Option(None, "--precision", help=PRECISION_HELP),
) -> None:
    """Detect vessels in scenes; write footprints (EPSG:4326) with length, beam, heading, score."""
    from rich.progress import Progress

    from pipeline.detect import detect_scene, load_detector
    from pipeline.errors import TankerWatchError
    from pipeline.recordio import check_detections_path, write_detections

    check_detections_path(out)
    detector = load_detector(model, precision=_precision(precision))
    land = None
    if port:
        from pipeline.config import load_port

        land = load_port(port).land_shape
    all_dets, failed = [], []
    with Progress(transient=True) as progress:
        task = progress.add_task("detect", total=len(scenes))
        for s in scenes:
            try:
                dets = detect_scene(s, detector, land=land, chips_dir=chips)
            except TankerWatchError as exc:
                if len(scenes) == 1:
                    raise
                failed.append(str(exc))
                typer.echo(f"skipped: {exc}", err=True)
            else:
                all_dets += dets
                typer.echo(f"{s}: {len(dets)} vessels", err=True)
            progress.advance(task)
    if len(failed) == len(scenes):
        raise TankerWatchError(
            f"no scene could be processed ({len(failed)} failed; first: {failed[0]})"
        )
    write_detections(out, all_dets)
    typer.echo(
        f"{len(all_dets)} detections from {len(scenes) - len(failed)} scene(s) "
        f"({len(failed)} skipped) by {detector.name} -> {out}"
    )


def _skipped(scene: str, reason: str) -> None:
    """One stderr line per scene that train/evaluate leave out (unreadable raster or labels)."""
    typer.echo(f"skipped scene {scene}: {reason}", err=True)


def train(
    config: Path = typer.Option(..., "--config", "-c", help="configs/train/<name>.yaml"),
    out: Path = typer.Option(..., "--out", "-o", help="Bundle folder, e.g. models/<name>."),
    restart: bool = typer.Option(False, "--restart", help="Ignore an existing checkpoint."),
) -> None:
    """Train a detector bundle (resumes from OUT/checkpoint when present).

    Simulated chips the config names (training and length calibration) are made first when
    missing (as `tankerwatch simulate --chips` makes them); the trainer itself only reads data.
    Several processes: `torchrun --nproc-per-node N -m pipeline.cli train ...` (DDP; rank 0
    makes the chips).
    """
    import os

    from pipeline.detect.train import train as run_train
    from pipeline.detect.train_config import load_train_config

    cfg = load_train_config(config)
    cal = cfg.length_calibration
    for sim in (cfg.simulated, cal.simulated if cal else None):
        if sim is not None and sim.root is None and os.environ.get("RANK", "0") == "0":
            from pipeline.simulate.chips import ensure_chips

            ensure_chips(sim.chips_dir(), sim.n, seed=sim.seed, progress=True, **sim.options)
    metrics = run_train(config, out, restart=restart, on_skip=_skipped)
    if metrics is None:  # a torchrun rank other than 0: rank 0 writes and reports the bundle
        return
    left_out = metrics["training"].get("skipped_scenes") or {}
    if left_out:
        typer.echo(f"training: {len(left_out)} scene(s) skipped")
    for label, res in metrics["holdout"].items():
        o = res["overall"]
        typer.echo(
            f"{label}: P {o['precision']:.3f} R {o['recall']:.3f} F1 {o['f1']:.3f} "
            f"mAP50 {o['map50']:.3f} length MAE {o['length_mae_m']} m"
            + (f" ({len(res['skipped'])} scene(s) skipped)" if res.get("skipped") else "")
        )
    typer.echo(f"bundle written to {out}")


def _split(r: dict | None) -> str:
    if r is None or not r["n"]:
        return "-"
    return f"{r['recall']:.3f} ({r['n']})"


def evaluate(
    dataset: Path = typer.Option(..., "--dataset", "-d", help="Dataset folder (labelled scenes)."),
    model: str = typer.Option(None, "--model", "-m", help="Bundle name/folder, or 'baseline'."),
    scenes: str = typer.Option(None, "--scenes", help="Comma-separated scene names only."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object on the last line."),
    record: str = typer.Option(
        None,
        "--record",
        help="Also add the result to the bundle's metrics.json and card.md "
        "under this label (only for data the model did not train on).",
    ),
    precision: str = typer.Option(None, "--precision", help=PRECISION_HELP),
    min_length: float = typer.Option(
        0.0,
        "--min-length",
        help="Mission-size rule: labels shorter than this (m) and unmatched predictions shorter "
        "than this are neither hits nor errors (0: every label and prediction counts).",
    ),
) -> None:
    """Score a detector on a labelled dataset: precision, recall, F1, mAP@0.5, length/beam MAE,
    recall alongside (label outline within 20 m of land) and in open water, length MAE per size
    class."""
    from pipeline.detect import load_detector
    from pipeline.detect.evaluate import evaluate_dataset
    from pipeline.errors import TankerWatchError

    if not min_length >= 0:
        raise TankerWatchError(f"--min-length {min_length}: must be a length >= 0 m")
    detector = load_detector(model, precision=_precision(precision))
    names = [s.strip() for s in scenes.split(",") if s.strip()] if scenes else None
    res = evaluate_dataset(
        dataset, detector, scenes=names, min_length_m=min_length, on_skip=_skipped
    )
    if record:
        from pipeline.detect.card import record_evaluation
        from pipeline.errors import TankerWatchError

        if getattr(detector, "path", None) is None:
            raise TankerWatchError("--record: only a learned bundle has a card to record into")
        record_evaluation(detector.path, record, res)
    if not as_json:
        rule = f"labels and unmatched predictions >= {min_length:g} m" if min_length else "all"
        typer.echo(f"model {res['model']} on {res['dataset']} (scored: {rule})")
        typer.echo(
            f"{'scene':<28} {'n':>4} {'P':>6} {'R':>6} {'F1':>6} {'mAP50':>6} {'lenMAE':>7} "
            f"{'R along':>11} {'R open':>11}"
        )
        for name, m in [*res["scenes"].items(), ("ALL", res["overall"])]:
            mae = "-" if m["length_mae_m"] is None else f"{m['length_mae_m']:.1f}"
            typer.echo(
                f"{name:<28} {m['n_labels']:>4} {m['precision']:>6.3f} {m['recall']:>6.3f} "
                f"{m['f1']:>6.3f} {m['map50']:>6.3f} {mae:>7} "
                f"{_split(m.get('recall_alongside')):>11} {_split(m.get('recall_open')):>11}"
            )
        sizes = res["overall"]["length_mae_by_size"]
        typer.echo(
            "length MAE by size: "
            + ", ".join(
                f"{k} {'-' if v['mae_m'] is None else round(v['mae_m'], 1)} m (n {v['n']})"
                for k, v in sizes.items()
            )
        )
        typer.echo(
            "land (for alongside = outline within 20 m of land): "
            + ", ".join(f"{k}: {v}" for k, v in res.get("land", {}).items())
        )
        if res["skipped"]:
            typer.echo(f"{len(res['skipped'])} scene(s) skipped: {', '.join(res['skipped'])}")
    else:
        typer.echo(json.dumps(res, sort_keys=True))
