"""The dwell/recall fit on seasons drawn from its own model: where the imagery pins the dwell,
and where the prior decides (pipeline.estimate.coverage.fit_coverage).

    python benchmarks/dwell_fit.py [--seeds 6] [--params YAML]
    python benchmarks/dwell_fit.py --demo /tmp/dwell-demo [--true-h 28] [--draws 8]

Each season: 120 days; calls arrive as a Poisson process (30 in the season), stays log-normal
with the true median and log-spread 0.6; clear images of two sensor sets (``s2s1``: Sentinel-2
every 5 days, 60 % clear, recall 0.3, with Sentinel-1 passes 1.5 and 5 days apart, always clear,
recall 0.9; ``s2fine``: the same Sentinel-2 with a daily 3 m sensor, 60 % clear, recall 0.85),
each image finding a vessel inside its stay with its recall. A visit is the hits of one stay
(first, last, hits between per sensor); each stay at its own berth, so that no neighbour bounds
it. The fit runs with the config's priors (recall priors: 0.2-0.45, 0.8-0.98, 0.7-0.95) and
again with a flat dwell prior and every visit counted in full (``dwell_prior_weight`` 0,
``fit_visit_weight`` 1): the likelihood alone. Printed per sensor set and true median: visits
(median), single sightings, fitted / true dwell median (median over seeds), the share of seeds
whose P10-P90 holds the truth, the same for p_seen (fitted draws against p_seen at the truth),
and the dwell's data weight. ``--demo``: the demo's own Sentinel-2 + Sentinel-1 load visits
(``demo_check``): the dwell's likelihood, each visit's part, and seasons drawn from the model on
the demo's own clear images.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pipeline.estimate.coverage import VisitBounds, fit_coverage, p_seen_given, schedule  # noqa: E402
from pipeline.estimate.params import load_params  # noqa: E402
from pipeline.portcalls.params import RecallPrior  # noqa: E402

RECALL = {"s2": 0.3, "s1": 0.9, "fine": 0.85}
PRIORS = {
    "s2": RecallPrior(low=0.2, high=0.45),
    "s1": RecallPrior(low=0.8, high=0.98),
    "fine": RecallPrior(low=0.7, high=0.95),
}


def season(rng, kind: str, median_h: float, n_calls: int = 30, days: int = 120):
    """(clear image times per sensor, visits, clear images per berth, start, end)."""
    start = datetime(2024, 1, 1, tzinfo=UTC)
    t_end = days * 24.0
    plans = {"s2": (np.arange(2.2, t_end, 120.0), 0.6)}
    if kind == "s2s1":
        t, x = [], 21.1
        while x < t_end:
            t.append(x)
            x += 36.0 if len(t) % 2 else 120.0
        plans["s1"] = (np.array(t), 1.0)
    else:
        plans["fine"] = (np.arange(1.7, t_end, 24.0) + rng.uniform(-0.7, 0.7, days), 0.6)
    clear = {s: t[rng.random(len(t)) < pc] for s, (t, pc) in plans.items()}
    times = np.concatenate(list(clear.values()))
    names = np.concatenate([[s] * len(t) for s, t in clear.items()]).astype(object)
    order = np.argsort(times)
    times, names = times[order], names[order]
    t0 = start.timestamp() / 3600
    arrive = rng.uniform(-200, t_end, rng.poisson(n_calls * (t_end + 200) / t_end))
    dwell = median_h * np.exp(rng.normal(0, 0.6, len(arrive)))
    visits, by_berth = [], {}
    rec = np.array([RECALL[s] for s in names])
    for i, (a, d) in enumerate(zip(arrive, dwell, strict=True)):
        hit = (times >= a) & (times <= a + d) & (rng.random(len(times)) < rec)
        if not hit.any():
            continue
        ht, hs = times[hit], names[hit]
        inner: dict[str, int] = {}
        for t, s in zip(ht, hs, strict=True):
            if ht[0] < t < ht[-1]:
                inner[s] = inner.get(s, 0) + 1
        berth = f"b{i}"
        visits.append(VisitBounds(berth, ht[0] + t0, ht[-1] + t0, int(hit.sum()), inner))
        by_berth[berth] = (times + t0, names)
    when = {s: [start + timedelta(hours=float(t)) for t in clear[s]] for s in clear}
    return when, visits, by_berth, start, start + timedelta(days=days)


def one(kind, median_h, seed, params, prior_weight, visit_weight):
    when, visits, by_berth, start, end = season(np.random.default_rng(seed), kind, median_h)
    cov = params.coverage.model_copy(
        update={"dwell_prior_weight": prior_weight, "fit_visit_weight": visit_weight}
    )
    sched = schedule(when, start, end, cov)
    fit = fit_coverage(sched, visits, by_berth, cov, {s: PRIORS[s] for s in sched.sensors})
    truth = {s: RECALL[s] for s in sched.sensors}
    p_true = float(p_seen_given(sched, median_h, 0.6, truth)[0].mean())
    med, rec = fit.draws(np.random.default_rng(1), 300)
    p_fit = np.percentile(p_seen_given(sched, med, 0.6, rec).mean(axis=1), [10, 50, 90])
    single = sum(v.first_h == v.last_h for v in visits)
    weight = getattr(fit, "dwell_data_weight", float("nan"))  # (older code: none)
    return len(visits), single, fit.quantiles(0), p_true, p_fit, weight


def demo_check(demo: Path, params, sensors: tuple[str, ...], true_h: float, draws: int) -> None:
    """The demo's own load visits from ``sensors`` alone (as sar_sensor_sets.py makes them): the
    dwell's likelihood (flat prior, every visit in full), each visit's log L(true)/L(5 h), then
    ``draws`` seasons on the same clear images with stays drawn from the model at ``true_h``
    (recall 0.92 Sentinel-1, 0.27 Sentinel-2, 0.85 otherwise): visits, twice-seen ones, fit."""
    from pipeline.config import load_port
    from pipeline.estimate.core import _clear_by_berth, _hours, _inner_hits, _sensor
    from pipeline.ledger.store import open_for_reading
    from pipeline.portcalls import build_visits
    from pipeline.run.steps import ledger_inputs
    from pipeline.simulate.scenario import load_scenario

    sc = load_scenario()
    ports = [load_port(p) for p in sorted({sc.load_port, *(d.port for d in sc.discharge)})]
    with open_for_reading(f"sqlite:///{demo / 'ledger.db'}") as ledger:
        inp = ledger_inputs(ledger, ports, sc.start, sc.end)
    keep = {s.id for s in inp.scenes if s.sensor in sensors}
    obs = [o for o in inp.observations if o.scene_id in keep]
    visits = build_visits(
        [d for d in inp.detections if d.scene_id in keep],
        [s for s in inp.scenes if s.id in keep],
        obs,
        ports,
        params,
    )
    port = next(p for p in ports if p.name == sc.load_port)
    load_berths = {b.id for b in port.berths if b.role == "load"}
    loads = [v for v in visits if v.role == "load" and v.port == port.name]
    lobs = [o for o in obs if o.port == port.name and o.berth in load_berths]
    clear_obs = [o for o in lobs if o.state == "clear"]
    when: dict[str, set] = {}
    for o in clear_obs:
        when.setdefault(_sensor(o), set()).add(o.acquired)
    times = [o.acquired for o in lobs] + [v.first_seen for v in loads]
    start = min(times).replace(minute=0, second=0, microsecond=0)
    end = max(times) + timedelta(hours=1)
    cov = params.coverage.model_copy(update={"dwell_prior_weight": 0.0, "fit_visit_weight": 1.0})
    sched = schedule({k: sorted(v) for k, v in when.items()}, start, end, cov)
    priors = {x: params.portcalls.recall_prior(x) for x in sched.sensors}
    clear_at = _clear_by_berth(clear_obs)
    scene_at = {o.scene_id: (_hours(o.acquired), _sensor(o)) for o in lobs}
    bounds = [
        VisitBounds(v.berth, _hours(v.first_seen), _hours(v.last_seen), v.n_obs,
                    _inner_hits(v, scene_at))
        for v in sorted(loads, key=lambda v: v.first_seen)
    ]  # fmt: skip
    prior = fit_coverage(sched, [], clear_at, cov, priors)
    it, i5 = (int(np.argmin(np.abs(prior.medians - h))) for h in (true_h, 5.0))

    def log_ratio(fit):
        r = fit.marginal(0) / prior.marginal(0)
        return float(np.log(r[it] / r[i5]))

    fit = fit_coverage(sched, bounds, clear_at, cov, priors)
    lik = fit.marginal(0) / prior.marginal(0)
    lik /= lik.max()
    multi = sum(b.last_h > b.first_h for b in bounds)
    print(f"{' + '.join(sensors)}: {len(bounds)} load visits, {multi} with two or more sightings")
    print("relative likelihood of the dwell median (flat prior, every visit in full):")
    print(" ".join(f"{m:.0f} h: {x:.2f}" for m, x in zip(fit.medians[::2], lik[::2], strict=True)))
    per = [log_ratio(fit_coverage(sched, [b], clear_at, cov, priors)) for b in bounds]
    print(f"per visit log L({true_h:g} h)/L(5 h): " + ", ".join(f"{x:+.2f}" for x in per))
    print(f"sum {sum(per):+.2f}")
    recall = {"sentinel-1-grd": 0.92, "sentinel-2-l2a": 0.27}
    rng = np.random.default_rng(5)
    t0, t1 = _hours(start), _hours(end)
    for berth, (th, names) in clear_at.items():
        rec = np.array([recall.get(x, 0.85) for x in names])
        for k in range(draws):
            n = rng.poisson(43)  # the default scenario's load calls in its season
            arrive = np.sort(rng.uniform(t0, t1, n))
            dwell = true_h * np.exp(rng.normal(0, params.coverage.dwell_sigma_ln, n))
            drawn = []
            for i, (a, d) in enumerate(zip(arrive, dwell, strict=True)):
                hit = (th >= a) & (th <= a + d) & (rng.random(len(th)) < rec)
                if hit.any():
                    ht, hs = th[hit], names[hit]
                    inner: dict[str, int] = {}
                    for t, x in zip(ht, hs, strict=True):
                        if ht[0] < t < ht[-1]:
                            inner[x] = inner.get(x, 0) + 1
                    drawn.append(VisitBounds(f"b{i}", ht[0], ht[-1], int(hit.sum()), inner))
            f = fit_coverage(sched, drawn, {v.berth: (th, names) for v in drawn}, cov, priors)
            twice = sum(v.last_h > v.first_h for v in drawn)
            print(
                f"draw {k} at {berth}: {len(drawn)} visits ({twice} with two or more), log "
                f"L({true_h:g} h)/L(5 h) {log_ratio(f):+.2f}, dwell median fitted "
                f"{f.quantiles(0)[1]:.0f} h"
            )


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=6)
    ap.add_argument("--params", type=Path)
    ap.add_argument("--medians", type=float, nargs="*", default=[8, 16, 30, 60, 100])
    ap.add_argument(
        "--demo",
        type=Path,
        help="a `tankerwatch demo --out` folder: check its Sentinel-2 + Sentinel-1 visits instead",
    )
    ap.add_argument("--true-h", type=float, default=28.0, help="with --demo: the true median")
    ap.add_argument("--draws", type=int, default=8, help="with --demo: seasons drawn")
    a = ap.parse_args(argv)
    params = load_params(a.params)
    if a.demo:
        if not (a.demo / "ledger.db").exists():
            print(f"{a.demo}: no ledger.db (run tankerwatch demo --out first)", file=sys.stderr)
            return 2
        demo_check(a.demo, params, ("sentinel-2-l2a", "sentinel-1-grd"), a.true_h, a.draws)
        return 0
    print(
        "| sensors | true median h | fit | visits | single | dwell fitted / true | truth in "
        "dwell P10-P90 | p_seen fitted / true | truth in p_seen P10-P90 | dwell data weight |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for kind in ("s2s1", "s2fine"):
        for m in a.medians:
            for label, wp, wv in (("config priors", None, None), ("likelihood alone", 0.0, 1.0)):
                wp = params.coverage.dwell_prior_weight if wp is None else wp
                wv = params.coverage.fit_visit_weight if wv is None else wv
                res = [one(kind, m, s, params, wp, wv) for s in range(a.seeds)]
                q = [r[2] for r in res]
                print(
                    f"| {kind} | {m:g} | {label} | {np.median([r[0] for r in res]):.0f} | "
                    f"{np.median([r[1] for r in res]):.0f} | "
                    f"{np.median([x[1] / m for x in q]):.2f} | "
                    f"{np.mean([x[0] <= m <= x[2] for x in q]):.2f} | "
                    f"{np.median([r[4][1] / r[3] for r in res]):.2f} | "
                    f"{np.mean([r[4][0] <= r[3] <= r[4][2] for r in res]):.2f} | "
                    f"{np.median([r[5] for r in res]):.2f} |",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
