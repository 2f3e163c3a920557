"""The model card (card.md) of a bundle, filled in from its config and measured metrics."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path


def _row(label: str, m: dict) -> str:
    def f(v, nd=3):
        return "n/a" if v is None else (f"{v:.{nd}f}" if isinstance(v, float) else str(v))

    return (
        f"| {label} | {m.get('n_labels')} | {f(m.get('precision'))} | {f(m.get('recall'))} | "
        f"{f(m.get('f1'))} | {f(m.get('map50'))} | {f(m.get('length_mae_m'), 1)} | "
        f"{f(m.get('beam_mae_m'), 1)} |"
    )


def metrics_table(metrics: dict) -> str:
    lines = [
        "| data (never trained on) | vessels | precision | recall | F1 | mAP@0.5 | length MAE m "
        "| beam MAE m |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    notes = []
    for label, res in metrics.get("holdout", {}).items():
        lines.append(_row(f"**{label}** (all)", res["overall"]))
        scenes = res.get("scenes", {})
        if len(scenes) <= 12:
            for scene, m in scenes.items():
                lines.append(_row(f"{label} / {scene}", m))
        if res.get("note"):
            notes.append(f"- {label}: {res['note']}")
        if res.get("skipped"):
            notes.append(f"- {label}: scenes left out (unreadable): {', '.join(res['skipped'])}")
    return "\n".join(lines + ([""] + notes if notes else []))


def _split(r: dict | None) -> str:
    return "n/a" if not r or not r.get("n") else f"{r['recall']:.2f} ({r['tp']}/{r['n']})"


def where_and_size_table(metrics: dict) -> str:
    """Recall alongside / in open water and length MAE per size class, for the evaluations that
    carry them (recorded by this version of ``evaluate``); empty when none does."""
    from pipeline.detect.evaluate import SIZE_CLASSES

    rows = []
    for label, res in metrics.get("holdout", {}).items():
        entries = [(f"**{label}** (all)", res["overall"])]
        scenes = res.get("scenes", {})
        if len(scenes) <= 12:
            entries += [(f"{label} / {k}", m) for k, m in scenes.items()]
        for name, m in entries:
            if "recall_alongside" not in m and "length_mae_by_size" not in m:
                continue
            sizes = m.get("length_mae_by_size") or {}
            cells = []
            for cls, _, _ in SIZE_CLASSES:
                v = sizes.get(cls) or {}
                cells.append(
                    "n/a"
                    if v.get("mae_m") is None
                    else f"{v['mae_m']:.1f} / {v['bias_m']:+.1f} ({v['n']})"
                )
            rows.append(
                f"| {name} | {_split(m.get('recall_alongside'))} | "
                f"{_split(m.get('recall_open'))} | {' | '.join(cells)} |"
            )
    if not rows:
        return ""
    head = [
        "Recall split by where the ship lies (alongside: its outline within 20 m of land, from the"
        " port's land polygons, else NDWI of the scene) and length error per size class of the"
        " labelled length (MAE / mean signed error, m; n matched):",
        "",
        "| data | recall alongside | recall open water | length 60-120 m | 120-200 m | > 200 m |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    return "\n".join(head + rows) + "\n\n"


def _mae(o: dict) -> str:
    return "n/a" if o.get("length_mae_m") is None else f"{o['length_mae_m']:.1f}"


def _at(threshold) -> str:
    return "" if threshold is None else f" ({threshold:g})"


def _cv_cell(e: dict) -> str:
    return "n/a" if e.get("mean") is None else f"{e['mean']:.3f} ± {e['sd']:.3f}"


def cross_validation_section(metrics: dict) -> str:
    """The recipe's cross-validation by port (benchmarks/detect_cv.py), when recorded: each
    port scored by a model trained without it, per fold and pooled, under each rule."""
    cv = metrics.get("cross_validation")
    if not cv:
        return ""
    folds = cv.get("folds_ports") or {p: [p] for p in cv["ports"]}
    lines = [
        "## Cross-validation by port (the recipe, before the release)",
        textwrap.fill(
            f"The recipe was trained {len(folds)} times ({cv['steps']} steps, "
            f"{cv['precision']}), each time without the ports of one fold "
            f"({'; '.join(', '.join(g) for g in folds.values())}), and scored on them at the "
            f"recipe's score threshold{_at(cv.get('threshold'))}: every port by a model that never "
            f"saw it. The released bundle "
            f"is that recipe trained on every port, so no real port is left to score it; these "
            f"numbers are its expected score on a port it never saw. {cv.get('note', '')}".strip(),
            98,
        ),
        "",
        "| rule | left out | vessels | precision | recall | F1 | recall alongside | length MAE m |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for rule, e in cv["rules"].items():
        label = "strict" if not float(rule) else f">= {float(rule):g} m"
        rows = [(f"fold {n}", cv["folds"][n][rule]) for n in folds]
        rows += (
            [(p, cv["port_scores"][p][rule]) for p in cv["ports"]] if cv.get("port_scores") else []
        )
        for name, o in rows + [("**pooled, out of fold**", e["pooled"])]:
            lines.append(
                f"| {label} | {name} | {o.get('n_labels')} | {o['precision']:.3f} | "
                f"{o['recall']:.3f} | {o['f1']:.3f} | {_split(o.get('recall_alongside'))} | "
                f"{_mae(o)} |"
            )
        lines.append(
            f"| {label} | **mean ± sd over folds** | | {_cv_cell(e['precision'])} | "
            f"{_cv_cell(e['recall'])} | {_cv_cell(e['f1'])} | {_cv_cell(e['recall_alongside'])} "
            f"| {_cv_cell(e['length_mae_m'])} |"
        )
        chosen = e.get("threshold_cv") or {}
        if chosen:
            lines.append(
                f"| {label} | **each fold at the threshold the other folds chose** | | | | "
                + ", ".join(f"{c['f1']:.3f} ({c['threshold']:g})" for c in chosen.values())
                + " | | |"
            )
        if e.get("port_f1"):
            lines.append(
                f"| {label} | **mean ± sd over ports** | | | | {_cv_cell(e['port_f1'])} | | |"
            )
    thresholds = [
        f"{'strict' if not float(r) else f'>= {float(r):g} m'}: {e['threshold_all']:g}"
        for r, e in cv["rules"].items()
        if e.get("threshold_all") is not None
    ]
    if thresholds:
        lines += [
            "",
            "Score threshold with the best pooled out-of-fold F1: " + "; ".join(thresholds) + ".",
        ]
    return "\n".join(lines) + "\n\n"


def _notes(metrics: dict) -> str:
    notes = metrics.get("notes") or []
    if not notes:
        return ""
    return (
        "## Gap to the targets and what was tried\n" + "\n".join(f"- {n}" for n in notes) + "\n\n"
    )


def _rule_note(metrics: dict) -> str:
    if not any(r.get("min_length_m") for r in metrics.get("holdout", {}).values()):
        return ""
    return (
        '\n\nRows marked "vessels >= M m" use the mission-size rule (`evaluate --min-length M`):'
        "\nlabels shorter than M, the predictions matched to them and unmatched predictions"
        "\nshorter than M are neither hits nor errors (sen2ships labels no small craft, which the"
        "\ndetector finds on the water); the other rows count every label and prediction."
    )


def render_card(spec, cfg, metrics: dict) -> str:
    t = metrics.get("training", {})
    real = (
        ", ".join(
            f"{r.root} ({', '.join(r.scenes) if r.scenes else 'all'}"
            f"{'; excluding ' + ', '.join(r.exclude) if r.exclude else ''})"
            for r in cfg.real
        )
        or "none"
    )
    sim = (
        f"{cfg.simulated.n} simulated chips (pipeline.simulate.chips, seed {cfg.simulated.seed})"
        if cfg.simulated
        else "none"
    )
    a = spec.architecture
    classes = "tanker / other" if spec.class_head_trained else "vessel"
    g = cfg.augment
    extra = []
    if g.glint:
        extra.append(f"spectrally flat sun-glint offsets up to {g.glint}")
    if g.paste_p:
        extra.append(
            f"copy-paste of real ships onto open water in {g.paste_p:.0%} of the chips "
            f"(rescaled {g.paste_scale[0]}-{g.paste_scale[1]})"
        )
    sar = spec.normalisation.method == "sar-db"
    augment = (
        f"flips, arbitrary rotation, scale {g.scale}, gain {g.gain}, per-band gain, haze, "
        f"noise, un-removed +1000 DN offset{', ' if extra else ''}{', '.join(extra)}"
    )
    if sar:
        augment = (
            f"flips, arbitrary rotation, scale {g.scale}, backscatter gain {g.gain} "
            f"({10 * math.log10(g.gain[0]):+.1f} to {10 * math.log10(g.gain[1]):+.1f} dB), "
            f"per-band gain +-{g.band_gain:.0%}"
        )
    averaged = (
        f"; the bundle holds the moving average of the weights (decay {cfg.ema})" if cfg.ema else ""
    )
    gsd = spec.gsd_m
    imagery = f"{gsd:g} m optical imagery of ports ({'Sentinel-2 L2A; ' if gsd >= 10 else ''}any"
    pixels = (
        "L2A digital numbers (the +1000\noffset of processing baseline 04.00+ is detected from "
        "file tags or from the dark-pixel floor) or\nreflectance floats, then a fixed log "
        "stretch (no per-tile statistics)."
    )
    if sar:
        n = spec.normalisation
        imagery = f"{gsd:g} m SAR imagery of ports (Sentinel-1 IW GRD; any"
        pixels = (
            "calibrated backscatter as linear power\n(sigma0 or gamma0), converted to dB, "
            f"clipped to {n.db_min:g}..{n.db_max:+g} dB and scaled to [-1, 1]; nodata\n"
            "and non-positive values read -1 (no per-tile statistics)."
        )
    cal = spec.calibration
    length_note = ""
    if cal.n_pairs:
        relation = (
            f"detected = {cal.length_gain:.3f} x true {cal.length_bias_m:+.1f} m"
            if cal.length_gain != 1.0
            else f"a mean bias of {cal.length_bias_m:+.1f} m"
        )
        length_note = "\n" + textwrap.fill(
            f"Lengths: the length relation measured after training, {relation} over "
            f"{cal.n_pairs} matched detections of {cal.measured_on}, is inverted at decode.",
            98,
        )
    ln = spec.length
    if ln.mode != "regression":
        what = "length and beam" if ln.beam == "hull" else "length"
        share = (
            f"the measured {what}"
            if ln.mode == "hull"
            else f"{ln.blend_weight:g} x the measured {what} + {1 - ln.blend_weight:g} x "
            "the network's"
        )
        length_note += "\n" + textwrap.fill(
            f"Lengths ({ln.mode}, model.yaml `length`): measured from the hull's own pixels "
            f"(pipeline/detect/hull.py: the {ln.band.upper() if ln.band == 'nir' else ln.band} "
            f"contrast against the water along the hull's axis, ends at {ln.level_fraction:g} of "
            f"its level, gaps up to {ln.gap_px:g} px bridged); the output is {share} where the "
            "measurement is credible, else the network's size regression (faint hull, no water "
            "around it, a profile that runs on into a quay or a neighbour, off the scene, or "
            f"outside {ln.ratio_range[0]:g}-{ln.ratio_range[1]:g}x the regression)."
            + (f" Chosen by {ln.measured_on}." if ln.measured_on else ""),
            98,
        )
    n_real = t.get("real_vessels", 0)
    if n_real:
        data_limit = (
            f"Few real training vessels ({n_real}); scores on other ports, seasons and sea states"
            " will vary. Held-out ports are few, so the uncertainty on these numbers is large"
            " (one vessel is several points of recall at a small port)."
        )
    else:
        data_limit = (
            "Trained on simulated imagery only (no real labels at this resolution were at hand):"
            " its scores are on simulated scenes; on real imagery it is unmeasured."
        )
    data_limit = textwrap.fill(
        data_limit, 98, initial_indent="- ", subsequent_indent="  ", break_on_hyphens=False
    )
    tta = _flip_note(spec.inference) if spec.inference.tta else ""
    rule_note = _rule_note(metrics)
    if sar:
        data_limit += (
            "\n- The simulated SAR (pipeline.simulate.sar) is calibrated against published"
            " Sentinel-1 numbers where they\n  were found (BENCHMARKS.md); real azimuth"
            " ambiguities, moving-target shifts and wakes are not\n  rendered, and the input"
            " must be linear backscatter (a dB file reads as nodata-like floor)."
        )
    return f"""# Model card: {spec.name}

## What it is
A vessel detector for {imagery} sensor whose bands map
onto {", ".join(spec.bands)}). A centre-point (CenterNet / xView3-style) heatmap model: a
{a.backbone} convolutional backbone (torchvision `Conv2dNormActivation` blocks, widths
{a.widths}) with a feature-pyramid decoder to output stride {a.out_stride}, and heads for the
vessel-centre heatmap, sub-cell offset, log length and beam, and axis orientation as
(sin 2a, cos 2a). Trained from scratch (no pretrained weights).

Input: bands {", ".join(spec.bands)} by name; any CRS and GSD is warped to the local UTM zone at
{spec.gsd_m} m, so lengths are true ground metres. Pixel values: {pixels}
Output per vessel: oriented footprint, centre, length_m, beam_m, heading_deg (axis, 0-180: bow
and stern are not told apart), score, class ({classes}).
Thresholds: score >= {spec.thresholds.score}, length >= {spec.thresholds.min_length_m} m,
duplicates within {spec.thresholds.nms_radius_m} m suppressed across tiles
({spec.inference.tile} px tiles, {spec.inference.overlap} px overlap).{tta}{length_note}

## Training data
- Real: {real}: {t.get("real_vessels", "?")} labelled vessels.
- Simulated: {sim}: {t.get("simulated_vessels", "?")} vessels.
- {cfg.steps} steps of {cfg.batch_size} chips of {cfg.chip} px, AdamW lr {cfg.lr}, cosine
  schedule, seed {cfg.seed}{averaged}; augmentation: {augment}.
- Trained in {t.get("train_seconds", "?")} s on {t.get("machine", "?")} (CPU), finished
  {t.get("finished_utc", "?")}.

## Metrics (only on data the model did not train on)
A prediction matches a label when its centre lies within 30 m of the labelled footprint,
one-to-one (Hungarian). mAP@0.5 is COCO AP of axis-aligned footprint boxes (torchmetrics).
Length and beam MAE are over matched pairs; the labelled "beam" of sen2ships is the short side of
the minimum rotated rectangle of a 10 m mask and so is much wider than a real hull.{rule_note}

{metrics_table(metrics)}

{where_and_size_table(metrics)}{cross_validation_section(metrics)}{_notes(metrics)}## Limits
{data_limit}
- Ships moored side by side or touching a pier can merge into one detection; cranes, pier heads
  and bright roofs at the waterline cause false alarms. Use a land mask (`--port`).
- Vessels under ~{4 * gsd:g} m (4 pixels) are near the resolution limit and often missed.
- Tanker vs other is learned from simulated chips only (sen2ships is single-class); treat it as
  a hint, not an identification.
- Heading is the hull axis (0-180 deg); it does not say which way the ship points.
"""


def _flip_note(inf) -> str:
    """One sentence on where the heatmap and sizes are averaged over the four flips."""
    if inf.tta_min_score <= 0 and inf.tta_max_score >= 1:
        return (
            " The heatmap and sizes are averaged over the four flips of each tile (4x the cost of"
            " one pass)."
        )
    where = f"cells whose single-pass score reaches {inf.tta_min_score:g}"
    if inf.tta_max_score < 1:
        where = f"single-pass peaks scoring {inf.tta_min_score:g} to {inf.tta_max_score:g}"
    context = (
        "the network's receptive field (the whole tile's values)"
        if inf.tta_context_px is None
        else f"{inf.tta_context_px} px"
    )
    return (
        f" The heatmap and sizes are averaged over the plain and {inf.tta_flips} flipped views"
        f" around {where}, on crops with {context} of context; elsewhere one pass stands."
    )


def record_evaluation(
    folder, label: str, result: dict, note: str = "", notes: list[str] | None = None
) -> None:
    """Add an evaluation (``evaluate_dataset`` output) to a bundle's metrics.json under
    ``holdout[label]`` and re-render its card.md. Weights and model.yaml are not touched."""
    folder = Path(folder)
    metrics, cfg = _read_metrics(folder, "an evaluation")
    entry = {"overall": result["overall"], "scenes": result["scenes"], "dataset": result["dataset"]}
    if result.get("min_length_m"):
        entry["min_length_m"] = result["min_length_m"]
    if note:
        entry["note"] = note
    if result.get("skipped"):
        entry["skipped"] = result["skipped"]
    metrics.setdefault("holdout", {})[label] = entry
    if notes is not None:
        metrics["notes"] = list(notes)
    _write_metrics(folder, metrics, cfg)


def _read_metrics(folder: Path, what: str):
    """(metrics.json, its training config) of a bundle, or one line saying why not."""
    import json

    from pipeline.detect.train_config import TrainConfig
    from pipeline.errors import TankerWatchError

    mpath = folder / "metrics.json"
    try:
        metrics = json.loads(mpath.read_text(encoding="utf-8"))
        return metrics, TrainConfig.model_validate(metrics["training"]["config"])
    except (OSError, ValueError, KeyError) as exc:
        raise TankerWatchError(f"{mpath}: cannot record {what} ({exc})") from None


def _write_metrics(folder: Path, metrics: dict, cfg) -> None:
    """metrics.json and the card rendered from it; weights and model.yaml untouched."""
    import json

    from pipeline.detect.bundle import read_spec
    from pipeline.fsutil import atomic_write_text

    atomic_write_text(folder / "metrics.json", json.dumps(metrics, indent=2) + "\n")
    atomic_write_text(folder / "card.md", render_card(read_spec(folder), cfg, metrics))


def record_cross_validation(folder, summary: dict, note: str = "") -> None:
    """Write a recipe's cross-validation by port (benchmarks/detect_cv.py's summary) into a
    bundle's metrics.json as ``cross_validation`` and re-render card.md. Refused unless the
    bundle was trained with that recipe (``recipe_differences``)."""
    from pipeline.detect.train_config import TrainConfig
    from pipeline.errors import TankerWatchError

    folder = Path(folder)
    metrics, cfg = _read_metrics(folder, "a cross-validation")
    mpath = folder / "metrics.json"
    recipe = TrainConfig.model_validate(summary["recipe"])
    differ = recipe_differences(cfg, recipe)
    if differ:
        raise TankerWatchError(
            f"{mpath}: the bundle was not trained with the cross-validated recipe "
            f"({summary['config']}): {', '.join(differ)} differ"
        )
    entry = {k: v for k, v in summary.items() if k != "recipe"}
    if note:
        entry["note"] = note
    metrics["cross_validation"] = entry
    _write_metrics(folder, metrics, cfg)


# what a fold changes, or what does not change the trained weights
_NOT_RECIPE = {"name", "real", "holdout", "threads", "device", "precision"}


def recipe_differences(a, b) -> list[str]:
    """Config fields on which two training configs differ, other than the data selection, the
    run settings and what acts after training (thresholds, inference: a CV scores its folds
    at the recipe's own); for each real dataset, its root and weight must agree too."""
    from pipeline.detect.train import AFTER_TRAINING

    skip = _NOT_RECIPE | set(AFTER_TRAINING)
    da, db = a.model_dump(mode="json"), b.model_dump(mode="json")
    out = sorted(k for k in set(da) | set(db) if k not in skip and da.get(k) != db.get(k))
    ra = [(r["root"], r.get("weight")) for r in da["real"]]
    rb = [(r["root"], r.get("weight")) for r in db["real"]]
    if [(Path(x).name, w) for x, w in ra] != [(Path(x).name, w) for x, w in rb]:
        out.append("real")
    return out
