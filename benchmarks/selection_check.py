"""Are images with a tanker at the load berth more likely to be kept or judged clear? (#13)

The coverage correction takes calls and clear images of the berth as independent (a call is
seen with the chance that a clear image falls inside its stay). This checks that on finished
chain runs (a family run folder: ``scenario.yaml`` + ``run/ledger.db`` +
``run/simulation/truth/visits.csv``), stage by stage, without re-rendering anything:

- planned: every acquisition the simulator plans for the load port (``plan_scenes``, the same
  seeds), with its drawn cloud cover (``planned_conditions``: the scene's own seed, first draws);
- kept: scenes ingest kept (ledger ``scenes``), the rest skipped by cloud screening;
- clear: kept scenes whose observation of the load berth is ``clear``.

Per image, "tanker present" means a true load call lay at the load berth at that instant.
For each stage it pools the pass rate with a tanker present against absent (a Mantel-Haenszel
risk difference, per sensor, strata = season x calendar month, its standard error from the
strata's binomial variances), and at the call level counts calls holding an image of each stage
against the same stays moved to random times in the season (``--draws`` draws; the null's mean
and spread).

    python benchmarks/selection_check.py /work/chain2/tuning/family-* [--draws 500]
"""

from __future__ import annotations

import argparse
import csv
import sqlite3
import sys
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np


def _ts(s: str) -> float:
    s = s.replace("Z", "").replace(" ", "T")
    return datetime.fromisoformat(s).replace(tzinfo=UTC).timestamp()


def season(folder: Path) -> dict:
    """Images of the load berth and true load stays of one finished chain run."""
    from pipeline.config import load_port
    from pipeline.simulate.layout import port_layout
    from pipeline.simulate.run import plan_scenes, planned_conditions
    from pipeline.simulate.scenario import load_scenario
    from pipeline.simulate.sensors import SarSensor

    sc = load_scenario(folder / "scenario.yaml")
    seed = sc.seed
    lp, lb = sc.load_port, sc.load_berth
    layouts = {p: port_layout(load_port(p)) for p in sc.ports}
    planned = [ps for ps in plan_scenes(sc, layouts, seed) if ps.port == lp]
    db = sqlite3.connect(f"file:{folder / 'run' / 'ledger.db'}?mode=ro&immutable=1", uri=True)
    kept = {r[0] for r in db.execute("select id from scenes where port = ?", (lp,))}
    skipped = {
        r[0].split("@")[0] for r in db.execute("select key from skips where port = ?", (lp,))
    }
    lost = [ps.id for ps in planned if ps.id not in kept and ps.id not in skipped]
    if lost:
        print(
            f"{folder.name}: {len(lost)} planned scenes neither kept nor skipped", file=sys.stderr
        )
    state = dict(
        db.execute(
            "select scene_id, state from observations where berth = ? and port = ?", (lb, lp)
        )
    )
    stays = []
    with open(folder / "run" / "simulation" / "truth" / "visits.csv") as f:
        for r in csv.DictReader(f):
            if r["role"] == "load" and r["port"] == lp and r["berth"] == lb:
                stays.append((_ts(r["arrived_utc"]), _ts(r["departed_utc"])))
    stays = np.array(stays, dtype=float).reshape(-1, 2)
    images = []
    for ps in planned:
        cover = None
        if not isinstance(ps.sensor, SarSensor):
            cover = planned_conditions(sc, layouts, ps, seed).cloud_cover
        t = ps.acquired.timestamp()
        present = bool(((stays[:, 0] <= t) & (t < stays[:, 1])).any()) if len(stays) else False
        images.append(
            dict(
                sensor=ps.sensor.name,
                t=t,
                present=present,
                cover=cover,
                planned=True,
                kept=ps.id in kept,
                clear=state.get(ps.id) == "clear",
            )
        )
    start = datetime.combine(sc.start, datetime.min.time(), tzinfo=UTC).timestamp()
    end = (
        datetime.combine(sc.end, datetime.min.time(), tzinfo=UTC) + timedelta(days=1)
    ).timestamp()
    return dict(
        name=folder.name,
        images=images,
        stays=stays,
        start=start,
        end=end,
        dwell=float(sc.calls.load_dwell_median_h),
    )


def _z(d: float, se: float) -> str:
    return f"{d / se:+.1f}" if se > 0 else "-"


def drawn_season(seed: int) -> dict:
    """The simulator's plan and true load stays of a drawn chain scenario, nothing rendered:
    what the planned stage needs (kept / clear are left False)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from estimate_calibration import chain_scenario, draw_scenario

    from pipeline.config import load_port, load_registry
    from pipeline.simulate.fleet import complete_fleet
    from pipeline.simulate.layout import port_layout
    from pipeline.simulate.run import plan_scenes, planned_conditions
    from pipeline.simulate.scenario import registry_path
    from pipeline.simulate.schedule import build_schedule

    sc = chain_scenario(draw_scenario(seed)[0])
    f = sc.fleet
    fleet = complete_fleet(
        load_registry(registry_path(sc)),
        f.vessels,
        f.dwt_t.min,
        f.dwt_t.max,
        f.dwt_median_t,
        seed,
    )
    schedule = build_schedule(sc, fleet, seed)
    stays = np.array(
        [
            (v.arrived.timestamp(), v.departed.timestamp())
            for v in schedule.visits
            if v.role == "load" and v.port == sc.load_port and v.berth == sc.load_berth
        ],
        dtype=float,
    ).reshape(-1, 2)
    layouts = {p: port_layout(load_port(p)) for p in sc.ports}
    images = []
    for ps in plan_scenes(sc, layouts, seed):
        if ps.port != sc.load_port:
            continue
        t = ps.acquired.timestamp()
        present = bool(((stays[:, 0] <= t) & (t < stays[:, 1])).any()) if len(stays) else False
        cond = planned_conditions(sc, layouts, ps, seed)
        images.append(
            dict(
                sensor=ps.sensor.name,
                t=t,
                present=present,
                cover=cond.cloud_cover,
                planned=True,
                kept=False,
                clear=False,
            )
        )
    start = datetime.combine(sc.start, datetime.min.time(), tzinfo=UTC).timestamp()
    end = (
        datetime.combine(sc.end, datetime.min.time(), tzinfo=UTC) + timedelta(days=1)
    ).timestamp()
    return dict(
        name=f"drawn-{seed}",
        images=images,
        stays=stays,
        start=start,
        end=end,
        dwell=float(sc.calls.load_dwell_median_h),
    )


def mh_difference(tables: list[tuple[int, int, int, int]]) -> tuple[float, float]:
    """Mantel-Haenszel risk difference and its standard error (the strata's binomial variances).

    Each table: (passes present, n present, passes absent, n absent)."""
    num = den = var_num = 0.0
    for a, n1, c, n0 in tables:
        if n1 == 0 or n0 == 0:
            continue
        n = n1 + n0
        w = n1 * n0 / n
        num += (a * n0 - c * n1) / n
        den += w
        p1, p0 = a / n1, c / n0
        var_num += w * w * (p1 * (1 - p1) / max(n1 - 1, 1) + p0 * (1 - p0) / max(n0 - 1, 1))
    if den == 0:
        return float("nan"), float("nan")
    return num / den, var_num**0.5 / den


STAGES = (
    ("planned -> kept", lambda i: True, "kept"),
    ("kept -> berth clear", lambda i: i["kept"], "clear"),
    ("planned -> berth clear", lambda i: True, "clear"),
)


def _strata(seasons: list[dict], sensor: str, cond) -> list[list[dict]]:
    """The images of ``sensor`` passing ``cond``, grouped by season and calendar month: the
    simulator's cloud climate is monthly, so a season's months are compared within themselves."""
    groups: dict[tuple[str, int], list[dict]] = defaultdict(list)
    for s in seasons:
        for i in s["images"]:
            if i["sensor"] == sensor and cond(i):
                groups[(s["name"], datetime.fromtimestamp(i["t"], UTC).month)].append(i)
    return list(groups.values())


def image_level(seasons: list[dict], sensors: list[str]) -> list[str]:
    rows = []
    for sensor in sensors:
        for label, cond, key in STAGES:
            tables = []
            for im in _strata(seasons, sensor, cond):
                a = sum(1 for i in im if i["present"] and i[key])
                n1 = sum(1 for i in im if i["present"])
                c = sum(1 for i in im if not i["present"] and i[key])
                tables.append((a, n1, c, len(im) - n1))
            a, n1, c, n0 = (sum(t[j] for t in tables) for j in range(4))
            if n1 == 0:
                continue
            d, se = mh_difference(tables)
            rows.append(
                f"| {sensor} | {label} | {a}/{n1} = {a / n1:.3f} | {c}/{n0} = {c / n0:.3f} "
                f"| {d:+.3f} +- {se:.3f} | {_z(d, se)} |"
            )
        # the simulator's cloud cover (drawn from the scene's own seed before any vessel is
        # placed) against presence: a check that the draws themselves ignore the calls
        num = den = var = 0.0
        for im in _strata(seasons, sensor, lambda i: i["cover"] is not None):
            c1 = [i["cover"] for i in im if i["present"]]
            c0 = [i["cover"] for i in im if not i["present"]]
            if len(c1) < 2 or len(c0) < 2:
                continue
            w = len(c1) * len(c0) / (len(c1) + len(c0))
            num += w * (np.mean(c1) - np.mean(c0))
            den += w
            var += w * w * (np.var(c1, ddof=1) / len(c1) + np.var(c0, ddof=1) / len(c0))
        if den:
            d, se = num / den, var**0.5 / den
            rows.append(
                f"| {sensor} | simulator cloud cover, mean difference | | "
                f"| {d:+.3f} +- {se:.3f} | {_z(d, se)} |"
            )
    return rows


def _holds(times: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Whether each interval [lo, hi) holds one of the sorted ``times``."""
    return np.searchsorted(times, hi, side="left") > np.searchsorted(times, lo, side="left")


def call_level(seasons, key, sensor, draws, rng) -> tuple[int, float, float, int]:
    """Calls holding an image passing ``key`` against the same stays shifted at random.

    Each draw moves every stay (its length kept) to an arrival uniform over the season; a stay
    running past the season's end wraps round to its start, so every instant is equally often
    covered and the null is the schedule model's (arrivals uniform, images as they were)."""
    obs = 0
    null = np.zeros(draws)
    n_calls = 0
    for s in seasons:
        times = np.sort(
            [i["t"] for i in s["images"] if (sensor is None or i["sensor"] == sensor) and i[key]]
        )
        st = s["stays"]
        n_calls += len(st)
        if len(st) == 0 or len(times) == 0:
            continue
        obs += int(_holds(times, st[:, 0], st[:, 1]).sum())
        dur = st[:, 1] - st[:, 0]
        span = s["end"] - s["start"]
        for k in range(draws):
            a = s["start"] + rng.uniform(0, span, len(st))
            hit = _holds(times, a, a + dur) | _holds(times, a - span, a - span + dur)
            null[k] += hit.sum()
    return obs, float(null.mean()), float(null.std()), n_calls


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("folders", nargs="*", type=Path)
    p.add_argument(
        "--drawn",
        type=int,
        default=0,
        help="instead of run folders: this many drawn chain scenarios from --first, "
        "planned stage only (simulator plan and schedule, nothing rendered)",
    )
    p.add_argument("--first", type=int, default=100000)
    p.add_argument("--draws", type=int, default=500)
    p.add_argument(
        "--short-h",
        type=float,
        default=24.0,
        help="seasons whose true dwell median is below this form the short subset",
    )
    p.add_argument("--seed", type=int, default=7)
    a = p.parse_args(argv)
    seasons = []
    for f in a.folders:
        if not (f / "run" / "ledger.db").exists():
            print(f"{f}: no run/ledger.db, left out", file=sys.stderr)
            continue
        seasons.append(season(f))
    seasons += [drawn_season(k) for k in range(a.first, a.first + a.drawn)]
    sensors = sorted({i["sensor"] for s in seasons for i in s["images"]})
    print(f"{len(seasons)} seasons: {', '.join(s['name'] for s in seasons[:40])}")
    print("\nImage level (load berth; pass rate with a tanker present vs absent):\n")
    print("| sensor | stage | present | absent | MH difference +- se | z |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in image_level(seasons, sensors):
        print(r)
    rng = np.random.default_rng(a.seed)
    subsets = {
        "all": seasons,
        f"dwell median < {a.short_h:g} h": [s for s in seasons if s["dwell"] < a.short_h],
    }
    print(
        f"\nCall level (calls holding an image, against the same stays shifted at random, "
        f"{a.draws} draws):\n"
    )
    print("| seasons | images | calls | observed | null mean +- sd | z |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, ss in subsets.items():
        for sensor in [None, *sensors]:
            for key in ("planned", "kept", "clear") if a.folders else ("planned",):
                obs, mu, sd, n = call_level(ss, key, sensor, a.draws, rng)
                z = (obs - mu) / sd if sd > 0 else float("nan")
                print(
                    f"| {name} ({len(ss)}) | {sensor or 'any'} {key} | {n} | {obs} "
                    f"| {mu:.1f} +- {sd:.1f} | {z:+.1f} |"
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
