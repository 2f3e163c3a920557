"""Training: `tankerwatch train --config configs/train/<name>.yaml --out models/<name>`.

Seeded (each step draws its chips from a generator seeded by (seed, step), so a resumed run sees
the same chips as an uninterrupted one), resumable from a checkpoint (safetensors for tensors,
YAML for the rest: never a pickle), CPU by default, CUDA when the config asks for it or "auto"
finds one. At the end the bundle is written, scored on the held-out data, and its card filled in.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import yaml

from pipeline.detect.train_config import TrainConfig, load_train_config
from pipeline.errors import TankerWatchError
from pipeline.fsutil import atomic_path, atomic_write_text, ensure_dir

log = logging.getLogger(__name__)

CKPT_DIR = "checkpoint"


# settings that act only after the weights are trained: changing them resumes a checkpoint
AFTER_TRAINING = ("thresholds", "inference", "holdout", "length_calibration")


def config_hash(cfg: TrainConfig) -> str:
    """What a checkpoint must have been trained with to be resumed: the config less the
    settings of AFTER_TRAINING (a finished run re-run with a new score threshold or calibration
    data writes its bundle again without training again)."""
    text = json.dumps(cfg.model_dump(mode="json", exclude=set(AFTER_TRAINING)), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def load_training_scenes(
    cfg: TrainConfig, out: Path, on_skip: Callable[[str, str], None] | None = None
) -> tuple[list, dict[str, str]]:
    """In-memory training scenes (real + simulated) on the model grid, and the scenes left out
    ({name: reason}: a raster or labels that cannot be read), each reported through
    ``on_skip(name, reason)`` (default: a warning in the log). No usable scene is an error."""
    from pipeline.detect.data import load_scene, scene_dirs
    from pipeline.detect.evaluate import log_skip

    skipped: dict[str, str] = {}

    def load(dirs: list[Path], source: str) -> list:
        part = []
        for d in dirs:
            try:
                part.append(load_scene(d, cfg.bands, cfg.gsd_m, source))
            except TankerWatchError as exc:
                skipped[str(d)] = str(exc)
                (on_skip or log_skip)(str(d), str(exc))
        return part

    scenes = []
    for src in cfg.real:
        root = src.resolve_root()
        dirs = [d for d in scene_dirs(root) if d.name not in set(src.exclude)]
        if src.scenes is not None:
            names = set(src.scenes)
            dirs = [d for d in dirs if d.name in names]
            missing = names - {d.name for d in dirs}
            if missing:
                raise TankerWatchError(f"{root}: scenes not found: {', '.join(sorted(missing))}")
        part = load(dirs, "real")
        _spread_weight(part, src.weight)
        scenes += part
    if cfg.simulated is not None:
        part = load(scene_dirs(simulated_root(cfg)), "sim")
        _spread_weight(part, cfg.simulated.weight)
        scenes += part
    if not scenes:
        if skipped:
            raise TankerWatchError(
                f"no usable training scene ({len(skipped)} skipped; first: "
                f"{next(iter(skipped.values()))})"
            )
        raise TankerWatchError("no training scenes found")
    return scenes, skipped


def simulated_root(cfg: TrainConfig) -> Path:
    """The simulated chips of the config, which must exist: training reads data, it does not
    make it (`tankerwatch train` makes missing chips first, as `tankerwatch simulate --chips`)."""
    sim = cfg.simulated
    root = sim.chips_dir()
    if sim.root:
        return root
    # a complete set: every chip has its labels (the chip writer writes them last)
    made = sum((p.parent / "labels.geojson").exists() for p in root.glob("*/scene.tif"))
    if made < sim.n:
        raise TankerWatchError(
            f"{root}: {made} of {sim.n} simulated chips (seed {sim.seed}) found; make them with "
            f"`{sim.make_command()}`, or run `tankerwatch train`, which does"
        )
    return root


def _spread_weight(scenes, weight: float) -> None:
    tot = sum(len(s.boxes) + 1 for s in scenes) or 1
    for s in scenes:
        s.weight = weight * (len(s.boxes) + 1) / tot


def training_precision(requested: str, device: str, **probe):
    """The precision a training run computes its forward pass in (a
    pipeline.detect.precision.Precision): ``fp32``, or ``bf16`` autocast over fp32 master
    weights. ``auto`` is bf16 where the CPU computes it natively (AMX / AVX-512 BF16; emulated
    bf16 is slower than fp32) or the GPU supports it, else fp32 (fp16 would need loss scaling
    and is not offered). ``probe``: resolve_precision's flags / machine / cuda_bf16 (tests).
    ``TANKERWATCH_PRECISION`` (an inference override) is not read: the config decides."""
    from pipeline.detect.precision import Precision, resolve_precision

    p = resolve_precision(requested, device, env=False, **probe)
    if p.name == "fp16":
        return Precision("fp32", p.device_type, "auto: no bf16 on this GPU (fp16 not trained)")
    return p


def init_from_bundle(net, cfg: TrainConfig) -> dict:
    """Load the weights of the bundle ``cfg.init`` into ``net`` (fine-tuning); returns what the
    bundle's ``trained`` metadata records of it. A bundle of another network, band set or grid
    is one line naming it."""
    from safetensors.torch import load_file

    from pipeline.detect.bundle import load_detector, resolve_bundle_dir

    det = load_detector(cfg.init, device="cpu", precision="fp32")  # checksum and shapes checked
    spec = det.spec
    folder = resolve_bundle_dir(cfg.init)
    if spec.architecture != cfg.architecture:
        raise TankerWatchError(f"init {folder}: its architecture is not this config's")
    if list(spec.bands) != list(cfg.bands) or spec.gsd_m != cfg.gsd_m:
        raise TankerWatchError(
            f"init {folder}: bands {spec.bands} at {spec.gsd_m:g} m, the config has "
            f"{cfg.bands} at {cfg.gsd_m:g} m"
        )
    net.load_state_dict(load_file(str(folder / spec.weights.file)), strict=True)
    return {
        "bundle": cfg.init,
        "model": spec.name,
        "weights_sha256": spec.weights.sha256,
        "never_trained_on": (spec.trained or {}).get("holdout_scenes", []),
    }


def lr_at(cfg: TrainConfig, step: int) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    t = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * min(1.0, t))))


# --------------------------------------------------------------------------- checkpoints


def save_checkpoint(
    folder: Path, model, opt, step: int, chash: str, history: list, ema=None, seconds: float = 0.0
) -> None:
    from safetensors.torch import save_file

    folder = ensure_dir(folder)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    if ema is not None:
        tensors |= {f"ema.{k}": v.detach().cpu().contiguous() for k, v in ema.state_dict().items()}
    osd = opt.state_dict()
    for pid, st in osd["state"].items():
        for k, v in st.items():
            tensors[f"opt.{pid}.{k}"] = v.detach().cpu().reshape(v.shape).contiguous()
    with atomic_path(folder / "state.safetensors") as tmp:
        save_file(tensors, str(tmp))
    groups = [
        {k: v for k, v in g.items() if k != "params"} | {"params": g["params"]}
        for g in osd["param_groups"]
    ]
    meta = {"step": step, "config_hash": chash, "param_groups": groups, "history": history}
    meta["train_seconds"] = round(float(seconds), 1)  # over every run that led here
    atomic_write_text(folder / "state.yaml", yaml.safe_dump(_plain(meta), sort_keys=False))


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_plain(v) for v in obj]
    if isinstance(obj, np.floating | np.integer):
        return obj.item()
    return obj


RESTART_HINT = "use --restart to start over"


def _first_line(exc: BaseException) -> str:
    return next((ln.strip() for ln in str(exc).splitlines() if ln.strip()), type(exc).__name__)


def _read_checkpoint_state(meta_path: Path) -> dict:
    """state.yaml of a checkpoint; a damaged one is one line naming it."""
    try:
        meta = yaml.safe_load(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise TankerWatchError(
            f"{meta_path}: unreadable checkpoint state ({_first_line(exc)}); {RESTART_HINT}"
        ) from None
    if (
        not isinstance(meta, dict)
        or not isinstance(meta.get("step"), int)
        or not isinstance(meta.get("param_groups"), list)
    ):
        raise TankerWatchError(
            f"{meta_path}: not a checkpoint state (needs step and param_groups); {RESTART_HINT}"
        )
    return meta


def load_checkpoint(folder: Path, model, opt, chash: str, ema=None) -> tuple[int, list]:
    import torch
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    meta_path = folder / "state.yaml"
    meta = _read_checkpoint_state(meta_path)
    if meta.get("config_hash") != chash:
        raise TankerWatchError(
            f"{meta_path}: checkpoint was made with a different config; {RESTART_HINT}"
        )
    tensor_path = folder / "state.safetensors"
    try:
        tensors = load_file(str(tensor_path))
    except (OSError, SafetensorError) as exc:
        raise TankerWatchError(
            f"{tensor_path}: unreadable checkpoint tensors ({_first_line(exc)}); {RESTART_HINT}"
        ) from None
    try:
        model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
        if ema is not None:
            ema.load_state_dict({k[4:]: v for k, v in tensors.items() if k.startswith("ema.")})
        state: dict = {}
        for k, v in tensors.items():
            if k.startswith("opt."):
                _, pid, name = k.split(".", 2)
                state.setdefault(int(pid), {})[name] = v
        opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})
    except (RuntimeError, ValueError, KeyError, TypeError) as exc:
        # tensors or optimiser groups that do not fit this config's network
        raise TankerWatchError(
            f"{tensor_path}: checkpoint does not fit the model ({_first_line(exc)}); {RESTART_HINT}"
        ) from None
    for st in opt.state.values():
        if "step" in st and not torch.is_tensor(st["step"]):
            st["step"] = torch.tensor(float(st["step"]))
    return int(meta["step"]), list(meta.get("history") or [])


def update_ema(ema, model, decay: float, step: int) -> None:
    """Exponential moving average of the weights (and BatchNorm statistics), with the usual
    warm-up so the first steps' random weights do not linger in the average."""
    import torch

    d = min(decay, (1 + step) / (10 + step))
    with torch.no_grad():
        for e, m in zip(ema.state_dict().values(), model.state_dict().values(), strict=True):
            if e.dtype.is_floating_point:
                e.mul_(d).add_(m.detach(), alpha=1 - d)
            else:
                e.copy_(m)


# --------------------------------------------------------------------------- training


def train(
    config_path: Path | str,
    out: Path | str,
    restart: bool = False,
    stop_after: int | None = None,
    on_skip: Callable[[str, str], None] | None = None,
) -> dict | None:
    """Train (or resume) and write the bundle. ``stop_after``: checkpoint and return None after
    that many steps of this run (an interruption on purpose, for tests and time-boxed runs).
    A training or held-out scene that cannot be read is left out and reported through
    ``on_skip(scene, reason)`` (default: a warning in the log); metrics.json lists it.

    Under ``torchrun`` (several processes) the model is wrapped in DistributedDataParallel:
    every rank draws its own chips, gradients are averaged, and rank 0 alone writes checkpoints
    and the bundle (the other ranks return None)."""
    import torch

    from pipeline import distributed as D

    cfg = load_train_config(config_path)
    out = ensure_dir(out)
    device = cfg.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise TankerWatchError(f"{config_path}: device 'cuda' requested but no CUDA device found")
    dist = D.setup(device)
    try:
        trained = _train(cfg, out, restart, stop_after, device, dist, on_skip)
    finally:
        # leave the process group before scoring: torchmetrics would otherwise try to
        # synchronise its states with ranks that have already finished
        D.teardown(dist)
    return None if trained is None else finish(cfg, *trained, on_skip=on_skip)


def _train(cfg, out: Path, restart: bool, stop_after, device: str, dist, on_skip=None):
    """The training loop; returns what ``finish`` needs (rank 0), or None (other ranks, or a
    deliberate stop before the last step)."""
    import torch

    from pipeline import distributed as D
    from pipeline.detect.data import ChipSampler, prepare_paste
    from pipeline.detect.model import detection_loss

    device = D.device_for(dist, device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed)
    chash = config_hash(cfg)
    t0 = time.time()
    # rank 0 reads the data (and fails on missing data) before the others read it
    if not dist.is_main:
        D.barrier(dist)
    # every rank reads the scenes; rank 0 alone reports those it leaves out
    scenes, skipped = load_training_scenes(cfg, out, on_skip if dist.is_main else lambda *_: None)
    if dist.is_main:
        D.barrier(dist)
    n_real = sum(len(s.boxes) for s in scenes if s.source == "real")
    n_sim = sum(len(s.boxes) for s in scenes if s.source == "sim")
    log.info("training on %d scenes (%d real vessels, %d simulated)", len(scenes), n_real, n_sim)
    aug = cfg.augment
    bank = prepare_paste(scenes, cfg.bands) if aug.paste_p else []
    if aug.paste_p:
        log.info("copy-paste: %d ship cut-outs", len(bank))
    sampler = ChipSampler(
        scenes,
        chip=cfg.chip,
        stride=cfg.architecture.out_stride,
        positive_p=cfg.positive_p,
        augment=aug,
        bank=bank,
        norm=cfg.normalisation,
    )
    prec = training_precision(cfg.precision, device)
    log.info("precision %s (%s), channels_last", prec.name, prec.reason)
    # channels_last (NHWC): oneDNN's convolutions are faster in it (inference uses it too);
    # the optimiser keeps fp32 master weights, autocast casts them per convolution
    net = cfg.architecture.build()
    init = init_from_bundle(net, cfg) if cfg.init else None
    net = net.to(device).to(memory_format=torch.channels_last)
    ema = None
    if cfg.ema:
        import copy

        ema = copy.deepcopy(net)
    opt = torch.optim.AdamW(net.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    ckpt = out / CKPT_DIR
    start, history, before_s = 0, [], 0.0
    seconds = 0.0
    if (ckpt / "state.yaml").exists() and not restart:
        start, history = load_checkpoint(ckpt, net, opt, chash, ema)
        before_s = float(_read_checkpoint_state(ckpt / "state.yaml").get("train_seconds") or 0)
        log.info("resuming from step %d", start)
    model = D.wrap(net, dist)  # DDP broadcasts rank 0's weights to every rank
    batch_size = D.per_rank_batch(cfg.batch_size, dist)
    model.train()
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    running: dict[str, float] = {}
    with Progress(
        TextColumn("train"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[loss]}"),
        TimeRemainingColumn(),
        transient=True,
        disable=not dist.is_main,
    ) as progress:
        task = progress.add_task("train", total=cfg.steps, completed=start, loss="")
        for step in range(start, cfg.steps):
            rng = np.random.default_rng(D.batch_seed(cfg.seed, step, dist))
            x, tgt = sampler.batch(rng, batch_size)
            x = x.to(device).contiguous(memory_format=torch.channels_last)
            tgt = {k: v.to(device) for k, v in tgt.items()}
            for g in opt.param_groups:
                g["lr"] = lr_at(cfg, step)
            with prec.autocast():
                pred = model(x)
            # the losses (sigmoid, logs, sums) in fp32 whatever the forward ran in
            pred = {k: v.float() for k, v in pred.items()}
            parts = detection_loss(pred, tgt, cfg.loss_weights)
            opt.zero_grad(set_to_none=True)
            parts["total"].backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
            opt.step()
            if ema is not None:
                update_ema(ema, net, cfg.ema, step)
            for k, v in parts.items():
                fv = float(v.detach())
                running[k] = 0.98 * running.get(k, fv) + 0.02 * fv
            progress.update(task, advance=1, loss=f"loss {running['total']:.3f}")
            done = step + 1
            if done % 50 == 0 and dist.is_main:
                log.info(
                    "step %d/%d %s lr %.2e %.1fs",
                    done,
                    cfg.steps,
                    " ".join(f"{k} {v:.3f}" for k, v in running.items()),
                    lr_at(cfg, step),
                    time.time() - t0,
                )
            stopping = stop_after is not None and done - start >= stop_after
            if (done % cfg.checkpoint_every == 0 or done == cfg.steps or stopping) and dist.is_main:
                history.append(
                    {
                        "step": done,
                        **{k: round(v, 4) for k, v in running.items()},
                        "precision": prec.name,
                    }
                )
                seconds = before_s + time.time() - t0
                save_checkpoint(ckpt, net, opt, done, chash, history, ema, seconds)
            if stopping and done < cfg.steps:
                return None
    # a resumed run adds its time to the runs before it (a finished one re-run adds none); the
    # main rank saved the last step's checkpoint with exactly this time
    train_s = seconds if start < cfg.steps and dist.is_main else before_s
    if not dist.is_main:
        return None
    final = ema if ema is not None else net
    final.eval()
    extra = {"init": init} if init else {}
    return final.cpu(), out, history, train_s, n_real, n_sim, len(scenes), skipped, extra


GAIN_RANGE = (0.5, 2.0)  # a fitted gain outside: lengths that do not track the truth


def fit_length_relation(measured, true, fit_gain: bool) -> tuple[float, float]:
    """(gain, bias) of detected = gain x true + bias by least squares over matched pairs, when
    ``fit_gain`` and there are 10 pairs or more with a gain in GAIN_RANGE; else (1, the mean
    signed error)."""
    measured, true = np.asarray(measured, np.float64), np.asarray(true, np.float64)
    if fit_gain and len(true) >= 10 and np.ptp(true) > 0:
        gain, bias = np.polyfit(true, measured, 1)
        if GAIN_RANGE[0] <= gain <= GAIN_RANGE[1]:
            return float(gain), float(bias)
        log.warning("length gain %.3f outside %s: bias only", gain, GAIN_RANGE)
    return 1.0, float(np.mean(measured - true))


def calibrate(cfg, out: Path, on_skip) -> tuple[float | None, dict]:
    """(score threshold or None, the bundle's ``calibration``) measured on the config's
    ``length_calibration`` data with the bundle just written to ``out`` (see LengthCalibration):
    one detection pass at the lowest threshold, scored at each."""
    from pipeline.detect.bundle import load_detector
    from pipeline.detect.data import scene_dirs
    from pipeline.detect.evaluate import score_scene, summarise
    from pipeline.detect.geometry import read_labels
    from pipeline.detect.infer import detect_scene

    cal = cfg.length_calibration
    root = cal.simulated.chips_dir()
    from pipeline.detect.bundle import Calibration

    det = load_detector(out)
    det.spec.calibration = Calibration()  # measured without a correction already in the bundle
    tried = sorted(set(cal.score_thresholds))
    if tried:
        det.spec.thresholds.score = min(tried)
    found = []
    for d in scene_dirs(root):
        try:
            found.append((read_labels(d / "labels.geojson"), detect_scene(d, det)))
        except TankerWatchError as exc:
            on_skip(d.name, str(exc))
    chosen, best = None, None
    for t in tried:
        per = {
            str(i): score_scene([r for r in recs if r.score >= t], labels, cal.min_length_m)
            for i, (labels, recs) in enumerate(found)
        }
        o = summarise(per)
        f1 = 2 * o["tp"] / max(1, 2 * o["tp"] + o["fp"] + o["fn"])  # unrounded
        log.info("calibration: score >= %.2f: F1 %.4f", t, f1)
        if best is None or f1 >= best:
            chosen, best = t, f1
    t = chosen if chosen is not None else det.spec.thresholds.score
    pairs = [
        (p["length_m"], p["true_length_m"])
        for labels, recs in found
        for p in score_scene([r for r in recs if r.score >= t], labels, cal.min_length_m)["pairs"]
    ]
    if not pairs:
        raise TankerWatchError(f"{root}: no matched detection to measure the length relation on")
    measured, true = np.array(pairs, dtype=np.float64).T
    gain, bias = fit_length_relation(measured, true, cal.fit_gain)
    what = (
        f"{cal.simulated.n} simulated chips seed {cal.simulated.seed}"
        f"{' ' + str(cal.simulated.options) if cal.simulated.options else ''}, labels >= "
        f"{cal.min_length_m:g} m"
    )
    log.info(
        "length relation: gain %.3f, bias %.2f m from %d pairs (%s)", gain, bias, len(pairs), what
    )
    calibration = {
        "length_bias_m": round(float(bias), 2),
        "length_gain": round(float(gain), 4),
        "measured_on": what + (f"; score threshold {t:g} chosen of {tried}" if tried else ""),
        "n_pairs": len(pairs),
    }
    return chosen, calibration


def finish(
    cfg,
    model,
    out: Path,
    history,
    train_s,
    n_real,
    n_sim,
    n_scenes,
    skipped=None,
    extra=None,
    on_skip=None,
) -> dict:
    """Write the bundle, score it on the held-out data, write metrics.json and card.md."""
    from pipeline.detect.bundle import load_detector, save_bundle
    from pipeline.detect.evaluate import evaluate_dataset, log_skip
    from pipeline.detect.train_config import resolve_root

    trained = {
        "config": cfg.model_dump(mode="json"),
        "finished_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "train_seconds": round(train_s, 1),
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        # what the forward passes ran in, over every run that led here (the checkpoints'
        # history records it per step range)
        "precision": {
            "requested": cfg.precision,
            "used": sorted({h.get("precision", "fp32") for h in history}),
            "channels_last": True,
        },
        "real_vessels": n_real,
        "simulated_vessels": n_sim,
        "scenes": n_scenes,
        "train_scenes": sorted({r for src in cfg.real for r in (src.scenes or [])})
        or [f"all of {src.root} except {', '.join(src.exclude)}" for src in cfg.real],
        "holdout_scenes": sorted({s for h in cfg.holdout for s in (h.scenes or [])}),
    }
    if skipped:
        trained["skipped_scenes"] = dict(skipped)
    trained |= extra or {}  # the bundle the weights started from (fine-tuning)
    fields = {
        "name": cfg.name,
        "architecture": cfg.architecture.model_dump(mode="json"),
        "bands": cfg.bands,
        "gsd_m": cfg.gsd_m,
        "normalisation": cfg.normalisation.model_dump(mode="json"),
        "thresholds": cfg.thresholds.model_dump(mode="json"),
        "inference": cfg.inference.model_dump(mode="json"),
        "class_head_trained": cfg.simulated is not None,
        "trained": {k: v for k, v in trained.items() if k != "config"},
    }
    save_bundle(out, model, fields)
    det = load_detector(out)
    metrics: dict = {"model": cfg.name, "holdout": {}, "training": trained, "history": history}
    if cfg.length_calibration is not None:
        score, fields["calibration"] = calibrate(cfg, out, on_skip or log_skip)
        if score is not None:
            fields["thresholds"] = {**fields["thresholds"], "score": score}
        metrics["length_calibration"] = fields["calibration"]
        save_bundle(out, model, fields)
        det = load_detector(out)
    for h in cfg.holdout:
        res = evaluate_dataset(
            resolve_root(h.root), det, scenes=h.scenes, on_skip=on_skip or log_skip
        )
        metrics["holdout"][h.label] = {"overall": res["overall"], "scenes": res["scenes"]}
        if res["skipped"]:
            metrics["holdout"][h.label]["skipped"] = res["skipped"]
        log.info("holdout %s: %s", h.label, res["overall"])
    from pipeline.detect.card import render_card

    save_bundle(out, model, fields, card_md=render_card(det.spec, cfg, metrics), metrics=metrics)
    return metrics
