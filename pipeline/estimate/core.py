"""run_estimate: visits (+ voyages, observations, registry) -> deliveries and coverage.

The one entry point the batch runner and the CLI call. Pure: same inputs and seed, same output.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

import numpy as np

from pipeline.config import Port, Vessel, load_port
from pipeline.errors import TankerWatchError
from pipeline.estimate.berth_position import (
    PositionModel,
    fit_position_model,
    sighting_positions,
    visit_track,
)
from pipeline.estimate.caps import MissedCalls, cap_rows, corrected_cap_rows
from pipeline.estimate.coverage import (
    CoverageFit,
    VisitBounds,
    back_to_back_rate,
    changeover_probability,
    corrected_counts,
    fit_coverage,
    month_key,
    p_seen_given,
    schedule,
)
from pipeline.estimate.params import EstimateParams, load_params
from pipeline.estimate.registry import (
    dwt_relation,
    identify,
    registry_digest,
    unmatchable_rows,
    visit_sigmas,
)
from pipeline.estimate.volume import (
    barrel_draws,
    point_capacity_bbl,
    product_class_of,
    reported_class,
)
from pipeline.portcalls.params import DEFAULT_SENSOR
from pipeline.portcalls.voyages import Voyage
from pipeline.records import Delivery, Observation, Visit, stable_id

QUANTILES = (10, 50, 90)


@dataclass
class EstimateResult:
    deliveries: list[Delivery]
    coverage: dict
    notes: list[str] = field(default_factory=list)
    total_draws: np.ndarray | None = None  # corrected total barrels, one value per draw
    observed_draws: np.ndarray | None = None  # observed total barrels, one value per draw


def _voyage_map(voyages) -> dict[str, tuple[str, str]]:
    """load visit id -> (discharge visit id, a note on how the link was made)."""
    out = {}
    for v in voyages or []:
        if isinstance(v, dict):
            a, b = v["load_visit"], v["discharge_visit"]
            z, h = v.get("size_z"), v.get("transit_h")
        elif isinstance(v, tuple | list):
            a, b, z, h = v[0], v[1], None, None
        else:
            a, b, z, h = v.load_visit, v.discharge_visit, v.size_z, v.transit_h
        source = v.get("source") if isinstance(v, dict) else getattr(v, "source", "size")
        mmsi = v.get("mmsi") if isinstance(v, dict) else getattr(v, "mmsi", None)
        if source == "ais-track":
            note = (
                f"discharge visit linked by MMSI {mmsi}'s AIS track from the load berth to the "
                f"discharge berth ({float(h):.0f} h after the last sighting)"
            )
            if isinstance(v, Voyage) and v.discharge is not None:
                note += "; that discharge call was seen by AIS only, no image"
        elif source == "ais-name":
            note = (
                f"discharge visit linked by its AIS name: both visits matched MMSI {mmsi} "
                f"({float(h):.0f} h apart)"
            )
        else:
            note = "discharge visit linked by hull size and sailing time only"
            if z is not None and h is not None:
                note += (
                    f" (size {float(z):.1f} sigma apart, {float(h):.0f} h after the last sighting)"
                )
        out[a] = (b, note)
    return out


def _ports_for(observations: list[Observation], visits: list[Visit], ports) -> dict[str, Port]:
    have = {p.name: p for p in ports or []}
    for name in sorted({o.port for o in observations} | {v.port for v in visits}):
        if name not in have:
            have[name] = load_port(name)
    return have


def _q(x: np.ndarray) -> list[float]:
    return [float(v) for v in np.percentile(x, QUANTILES)]


def _rng(seed: int, *parts: object) -> np.random.Generator:
    return np.random.default_rng([seed, int(stable_id(*parts, length=8), 16)])


def run_estimate(
    visits: list[Visit],
    voyages,
    observations: list[Observation],
    registry: list[Vessel],
    params: EstimateParams | None = None,
    seed: int = 0,
    run_id: str = "",
    model: str = "",
    ports: list[Port] | None = None,
    ais: dict | None = None,
    ais_stays: list | None = None,
    season: tuple[datetime, datetime] | None = None,
    detections: list | None = None,
    draughts: dict | None = None,
) -> EstimateResult:
    """Deliveries for every load visit, and the coverage summary (by month, totals, caps).

    ``voyages``: Voyage objects, dicts or (load_visit, discharge_visit) pairs.
    ``ports``: port configs for the berths' roles and products (default: loaded by name).
    ``ais``: visit id -> ``VisitAis`` (pipeline.portcalls.ais.visits_by_ais): a call named by
    its transponder takes that vessel's capacity, and ``dark``/``ais_mmsi`` are set
    (pipeline.estimate.ais); None: no AIS, both left empty.
    ``ais_stays``: complete stays of transponders at berths (pipeline.portcalls.ais_stays); those
    at a port's load berths enter its dwell fit as direct observations of the dwell.
    ``season``: the period asked for (``season_bounds``): the corrected calls cover all of it,
    hours without a clear image filled at the season's rate with its uncertainty (None: the span
    of the port's observations, which is shorter where no image at all was kept).
    ``detections``: those behind the visits' evidence (or more): their lengths tell whether two
    sightings a visit joins across a gap are one hull or two (None: only that they were joined).
    ``draughts``: visit id -> its departure draught as its transponder reported it
    (pipeline.estimate.draught.departure_draughts): that call's cargo is read from it, and the
    calls so measured inform the season's common loading factor (with ``volume.draught`` set).
    """
    from pipeline.estimate.ais import (
        alibi_note,
        apply_ais,
    )

    p = params or load_params()
    n = p.volume.draws
    portmap = _ports_for(observations, visits, ports)
    linked = _voyage_map(voyages)
    relation = dwt_relation(registry, p.capacity)
    err = p.portcalls.size_error
    run_key = stable_id(p.digest(), registry_digest(registry), seed, run_id)
    notes = []
    unmatchable = unmatchable_rows(registry)
    if unmatchable:
        notes.append(
            f"{len(unmatchable)} of {len(registry)} registry rows have no length and cannot be "
            f"matched by size: {', '.join(unmatchable)}"
        )
    notes.append(
        f"deadweight relation: dwt = {relation.a:.4g} * L^{relation.b:.3g} "
        f"(sigma_ln {relation.sigma_ln:.2f}; {relation.source})"
    )

    loads = sorted((v for v in visits if v.role == "load"), key=lambda v: (v.last_seen, v.id))
    draughts = (draughts or {}) if p.volume.draught is not None else {}
    # vessels whose transponder put them elsewhere while a hull was seen weigh less; a call
    # named by its transponder takes its barrels from that vessel
    identified = {v.id: _identified(v, ais, registry, p) for v in loads}
    common_z, loading_note = _common_loading(loads, draughts, identified, relation, p, seed, n)
    if loading_note:
        notes.append(loading_note)
    deliveries: list[Delivery] = []
    draws: dict[str, np.ndarray] = {}
    load_times: dict[str, datetime] = {}
    load_of: dict[str, Visit] = {}
    for v in loads:
        port = portmap[v.port]
        try:
            berth_product = port.berth(v.berth).product
        except TankerWatchError:
            raise TankerWatchError(
                f"visit {v.id}: berth '{v.berth}' is unknown to port '{v.port}'"
            ) from None
        size_ident, ident, factors = identified[v.id]
        pclass = product_class_of(berth_product, p.volume)
        if pclass == "unknown" and ident.best is not None:
            pclass = product_class_of(ident.best.product, p.volume)
        sl, _ = visit_sigmas(v, err)
        cap_bbl, dwt_note = point_capacity_bbl(ident, v.length_m, relation, pclass, p.volume)
        drawn = draughts.get(v.id)
        d = barrel_draws(
            ident, v.length_m, sl, relation, pclass, p.volume, _rng(seed, v.id), common_z, drawn
        )
        q10, q50, q90 = _q(d)
        sc = {k: cap_bbl * f for k, f in p.volume.scenarios.items()}
        best = size_ident.best  # named here by size; apply_ais names it by AIS below
        method = (
            f"size identification (L {v.length_m:.0f}+-{sl:.1f} m, B {v.beam_m:.0f} m) against "
            f"{len(registry) - len(unmatchable)} sized registry rows, threshold "
            f"{p.identification.threshold}; scenarios: {dwt_note} x cargo share x "
            f"{pclass} barrels/t; Monte Carlo {n} draws (seed {seed}) over vessel, dwt "
            f"(dwt = {relation.a:.4g} L^{relation.b:.3g}, sigma_ln {relation.sigma_ln:.2f}), "
            f"cargo share, loading factor ({p.volume.loading_factor.dist} "
            f"{p.volume.loading_factor.low:.2f}-{p.volume.loading_factor.high:.2f}, "
            f"correlation {p.volume.loading_correlation}) and product" + alibi_note(factors)
        )
        if drawn is not None:
            method += (
                f"; cargo from the departure draught its transponder reported, "
                f"{drawn.draught_m:.1f} m (arrived at {drawn.before_m:.1f} m; hull "
                f"{drawn.length_m:.0f} x {drawn.beam_m:.0f} m), in place of the loading factor"
            )
        if v.id in linked:
            method += f"; {linked[v.id][1]}"
        did = stable_id("delivery", v.id, run_key)
        deliveries.append(
            Delivery(
                id=did,
                vessel=size_ident.name,
                imo=best.imo if best else None,
                id_probability=round(size_ident.probability, 4),
                load_visit=v.id,
                discharge_visit=linked[v.id][0] if v.id in linked else None,
                barrels_p10=round(q10, 1),
                barrels_p50=round(q50, 1),
                barrels_p90=round(q90, 1),
                barrels_33=round(sc.get("33", 0.0), 3),
                barrels_50=round(sc.get("50", 0.0), 3),
                barrels_90=round(sc.get("90", 0.0), 3),
                product=reported_class(pclass, p.volume),
                method=method,
                run_id=run_id,
                model=model,
                candidates=size_ident.listed(p.identification.max_candidates),
            )
        )
        draws[did] = d
        load_times[did] = v.last_seen
        load_of[did] = v
    if ais is not None:
        deliveries = apply_ais(deliveries, ais, registry)

    lengths = [v.length_m for v in registry if v.length_m]
    sightings = None
    if detections is not None:
        positions = sighting_positions(
            loads, detections, list(portmap.values()), p.portcalls.berth_margin_m
        )
        sightings = ({d.id: d.length_m for d in detections}, positions)
    coverage, total_draws, observed_draws, dwell_notes, missed = _coverage(
        deliveries, draws, load_of, observations, portmap, p, seed, n, ais_stays or [], lengths,
        season, sightings, common_z,
    )  # fmt: skip
    coverage["caps"] = cap_rows(deliveries, load_times, p.caps)
    coverage["caps"] += corrected_cap_rows(
        deliveries, draws, load_times, missed, p.caps, np.random.default_rng([seed, 2397, 1])
    )
    notes += dwell_notes
    if not observations:
        notes.append("no observation schedule given: calls missed by the images not estimated")
    return EstimateResult(deliveries, coverage, notes, total_draws, observed_draws)


def _identified(v: Visit, ais, registry, p: EstimateParams):
    """A load visit's identification as its barrels use it (size, alibis, AIS name)."""
    from pipeline.estimate.ais import ais_identification, alibi_factors, named_by_ais

    factors = (
        alibi_factors(
            ais.get(v.id),
            registry,
            p.identification.alibi_weight,
            p.identification.silence_max_factor,
        )
        if ais
        else {}
    )
    size_ident = identify(v, registry, p.identification, p.portcalls.size_error, factors)
    ident = size_ident
    if ais and named_by_ais(ais.get(v.id)):
        ident = ais_identification(size_ident, ais[v.id], registry)
    return size_ident, ident, factors


def _common_loading(loads, draughts, identified, relation, p, seed, n):
    """Draws of the loading factor's common part: the prior's, or updated on the calls whose
    departure draught was read (pipeline.estimate.draught.loading_posterior); and a note."""
    from pipeline.estimate.draught import loading_posterior
    from pipeline.estimate.volume import implied_loading

    rng = np.random.default_rng([seed, 1718])
    measured = [v for v in loads if v.id in draughts]
    if not measured:
        return rng.standard_normal(n), ""
    implied = []
    for v in measured:
        _, ident, _ = identified[v.id]
        sl, _ = visit_sigmas(v, p.portcalls.size_error)
        implied.append(
            implied_loading(
                ident, v.length_m, sl, relation, p.volume, _rng(seed, v.id, "draught"),
                draughts[v.id], n,
            )
        )  # fmt: skip
    z, s = loading_posterior(implied, p.volume.loading_factor, p.volume.loading_correlation, n, rng)
    lf = p.volume.loading_factor
    return z, (
        f"loading factor: {s['calls']} of {len(loads)} load calls read from the departure draught "
        f"their transponder reported (implied loading factor median {s['implied_p50']:.2f}); "
        f"their cargo comes from it, and the season's common loading factor of the other calls "
        f"is {s['common_p50']:.2f} (P10-P90 {s['common_p10']:.2f}-{s['common_p90']:.2f}) "
        f"given them, against the prior {lf.dist} {lf.low:.2f}-{lf.high:.2f}"
    )


def season_bounds(start: date | None, end: date | None) -> tuple[datetime, datetime] | None:
    """A run's inclusive days as the estimate's season: start 00:00 UTC up to the day after end
    (None unless both are given)."""
    if start is None or end is None:
        return None
    return (
        datetime.combine(start, time.min, tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
    )


def _coverage(
    deliveries, draws, load_of, observations, portmap, p, seed, n, ais_stays=(),
    registry_lengths=(), season=None, sightings=None, common_z=None,
):  # fmt: skip
    sighting_lengths, positions = sightings if sightings is not None else (None, {})
    load_berths = {
        (name, b.id) for name, port in portmap.items() for b in port.berths if b.role == "load"
    }
    ports = sorted(
        {name for name, _ in load_berths}
        & ({o.port for o in observations} | {load_of[d.id].port for d in deliveries})
    )
    by_month = []
    tot_obs_calls = 0
    tot_calls = np.zeros(n)
    tot_obs_bbl = np.zeros(n)
    tot_bbl = np.zeros(n)
    have_schedule = bool(observations)
    exposure_num = np.zeros(n)
    exposure_den = 0.0
    rng = np.random.default_rng([seed, 2397])
    dwell_notes: list[str] = []
    missed_calls: list[MissedCalls] = []  # per port, for the corrected cap dates
    for port in ports:
        obs = [o for o in observations if o.port == port and (o.port, o.berth) in load_berths]
        mine = [d for d in deliveries if load_of[d.id].port == port]
        times = [o.acquired for o in obs] + [load_of[d.id].first_seen for d in mine]
        if not times:
            continue
        start = min(times).replace(minute=0, second=0, microsecond=0)
        end = max(times) + timedelta(hours=1)
        if season is not None:
            start, end = min(start, season[0]), max(end, season[1])
        cov = p.coverage
        clear_obs = [o for o in obs if o.state == "clear"]
        clear_by_sensor: dict[str, set] = {}
        for o in clear_obs:
            clear_by_sensor.setdefault(_sensor(o), set()).add(o.acquired)
        sched = schedule({k: sorted(v) for k, v in clear_by_sensor.items()}, start, end, cov)
        scene_at = {o.scene_id: (_hours(o.acquired), _sensor(o)) for o in obs}
        clear_scene_at = {o.scene_id: (_hours(o.acquired), _sensor(o)) for o in clear_obs}
        months = sched.months
        mi = {m: i for i, m in enumerate(months)}
        observed = np.zeros(len(months))
        # the calls the model can have seen: p_seen counts clear images only, so a call seen
        # only through images whose berth was obscured is, for the correction, one the clear
        # images missed (it fills part of the missed calls below instead of adding to them)
        observed_clear = np.zeros(len(months))
        bounds = {d.id: _clear_bounds(load_of[d.id], scene_at, clear_scene_at) for d in mine}
        obs_bbl = np.zeros((n, len(months)))
        for d in mine:
            m = mi[month_key(load_of[d.id].first_seen)]
            observed[m] += 1
            observed_clear[m] += bounds[d.id] is not None
            obs_bbl[:, m] += draws[d.id]
        only_obscured = sum(b is None for b in bounds.values())
        # barrels of a call the images missed: a call seen at this port, or, when none was
        # seen, an unidentified tanker of any size in the identification range; taken in a
        # draw with the same common loading factor (MissedCalls.draw)
        pool = np.stack([draws[d.id] for d in mine]) if mine else _prior_pool(p, rng, n, common_z)
        if have_schedule:
            clear_at = _clear_by_berth(clear_obs)
            stays = [s for s in ais_stays if s.port == port and (s.port, s.berth) in load_berths]
            gsd_at = {o.scene_id: o.gsd_m for o in obs}
            fleet_sd = _fleet_length_sd(registry_lengths, p)
            gsd_of: dict[str, float] = {}
            for o in obs:
                gsd_of[_sensor(o)] = max(gsd_of.get(_sensor(o), 0.0), o.gsd_m or 0.0)
            position = fit_position_model(
                [load_of[d.id] for d in mine],
                scene_at,
                positions,
                gsd_of,
                p.portcalls.along_tolerance_m,
            )
            seen = {
                d.id: _sighting_gaps(
                    load_of[d.id],
                    scene_at,
                    gsd_at,
                    p,
                    fleet_sd,
                    sighting_lengths,
                    position,
                    positions,
                )
                for d in mine
            }
            fit = fit_coverage(
                sched,
                [b for b in bounds.values() if b is not None],
                clear_at,
                cov,
                {x: p.portcalls.recall_prior(x) for x in sched.sensors},
                stays_h=np.array([s.hours for s in stays]),
            )
            multi = sum(load_of[d.id].last_seen > load_of[d.id].first_seen for d in mine)
            dwell_notes += _fit_notes(port, fit, p, _revisit_h(clear_at), multi, stays)
            seen_months = {month_key(t) for v in clear_by_sensor.values() for t in v}
            blind = [m for m in months if m not in seen_months]
            if blind:
                dwell_notes.append(
                    f"{port}: no clear image of the load berths in {', '.join(blind)}: calls there "
                    f"are filled at the season's rate, with its uncertainty (not observed)"
                )
            med, rec = fit.draws(rng, n)
            pseen = p_seen_given(sched, med, cov.dwell_sigma_ln, rec)
            cap = back_to_back_rate(len(clear_at), med, cov.dwell_sigma_ln)
            gaps = [
                (mi[month_key(load_of[d.id].first_seen)], *seen[d.id][1:])
                for d in mine
                if bounds[d.id] is not None
            ]
            hidden = _hidden_calls(
                gaps, observed_clear, sched.hours, pseen, med, cov.dwell_sigma_ln,
                len(clear_at), rng,
            )  # fmt: skip
            dwell_notes += _hidden_notes(port, gaps, hidden)
            if any(len(g) for _, g, _ in gaps) and position.note(port):
                dwell_notes.append(position.note(port))
            held = observed_clear[None, :] + hidden
            calls = corrected_counts(held, sched.hours, pseen, rng, max_rate=cap)
            capped = _capacity_share(held.mean(axis=0), sched.hours, pseen, cap)
            if capped > 0.1:
                dwell_notes.append(
                    f"{port}: the images cover too little of the season to bound the calls: in "
                    f"{capped:.0%} of the draws the berths' capacity (one hull at a time, back to "
                    f"back) is what bounds them, so the corrected calls are a ceiling, not an "
                    f"estimate"
                )
            # never fewer than the calls seen at all (those seen only through obscured images
            # are known, so they are among the calls, not drawn again)
            calls = np.maximum(calls, observed[None, :])
            missed = calls - observed[None, :]
            if only_obscured:
                dwell_notes.append(
                    f"{port}: {only_obscured} of {len(mine)} load visits were seen only in images "
                    f"whose berth was obscured: p_seen counts clear images only, so they are "
                    f"counted among the calls the clear images missed and left out of the dwell "
                    f"and recall fit"
                )
            pool_class = (
                np.array([d.product for d in mine])
                if mine
                else np.full(len(pool), reported_class("unknown", p.volume))
            )
            weights = _missed_weights(
                [load_of[d.id].length_m for d in mine], clear_by_sensor, sched.hours, pseen, p
            )
            if weights is not None:  # the seen calls as the missed ones would be: by length
                dwell_notes.append(_missed_weights_note(port, mine, load_of, weights))
            mc = MissedCalls(
                port, start, end, months, missed, pool, pool_class,
                None if weights is None else weights / weights.sum(), common_z,
            )  # fmt: skip
            missed_calls.append(mc)
            corr_bbl = obs_bbl.copy()
            for m in range(len(months)):
                counts = missed[:, m].astype(int)
                if counts.any():
                    who = np.repeat(np.arange(n), counts)
                    barrels, _ = mc.draw(who, rng)
                    corr_bbl[:, m] += np.bincount(who, weights=barrels, minlength=n)
            exposure_num += (sched.hours[None, :] * pseen).sum(axis=1)
            exposure_den += float(sched.hours.sum())
        for m, month in enumerate(months):
            row = {
                "month": month,
                "port": port,
                "calls_observed": int(observed[m]),
                "barrels_observed_p50": round(float(np.median(obs_bbl[:, m])), 1),
            }
            if have_schedule:
                c10, c50, c90 = _q(calls[:, m])
                b10, b50, b90 = _q(corr_bbl[:, m])
            else:
                c10 = c50 = c90 = b10 = b50 = b90 = None
            row.update(_corrected(c10, c50, c90, b10, b50, b90))
            by_month.append(row)
        tot_obs_calls += int(observed.sum())
        tot_obs_bbl += obs_bbl.sum(axis=1)
        if have_schedule:
            tot_calls += calls.sum(axis=1)
            tot_bbl += corr_bbl.sum(axis=1)
    totals = {
        "calls_observed": tot_obs_calls,
        "barrels_observed_p50": round(float(np.median(tot_obs_bbl)), 1),
    }
    if have_schedule and exposure_den > 0:
        totals.update(_corrected(*_q(tot_calls), *_q(tot_bbl)))
        p_seen = round(float(np.median(exposure_num / exposure_den)), 4)
        total_draws = tot_bbl
    else:
        totals.update(_corrected(None, None, None, None, None, None))
        p_seen = None
        total_draws = None
    by_month.sort(key=lambda r: (r["month"], r["port"]))
    cov = {"by_month": by_month, "totals": totals, "caps": [], "p_seen": p_seen}
    return cov, total_draws, tot_obs_bbl, dwell_notes, missed_calls


def _hours(t: datetime) -> float:
    return t.timestamp() / 3600


def _fleet_length_sd(lengths: list[float], p: EstimateParams) -> float:
    """Spread of the lengths of the tankers that can call (registry rows in the port-call size
    range); 20 m where the registry holds fewer than three."""
    pc = p.portcalls
    inside = [x for x in lengths if pc.min_length_m <= x <= pc.max_length_m]
    return float(np.std(inside, ddof=1)) if len(inside) >= 3 else 20.0


def _sighting_gaps(
    v: Visit,
    scene_at,
    gsd_at,
    p: EstimateParams,
    fleet_sd: float,
    lengths: dict | None = None,
    position: PositionModel | None = None,
    positions: dict | None = None,
):
    """(the times of a visit's sightings, the hours between consecutive ones, for each gap the
    odds factor of two hulls against one from their sizes).

    With the sightings' measured lengths (``lengths``: detection id -> length m), the factor is
    the likelihood ratio of the length difference across the gap, each sighting's sensor bias
    removed: two hulls drawn from the fleet (lengths spread ``fleet_sd``) against one hull
    measured twice (the hull's systematic error cancels within one sensor). Without them, what
    joining says alone: port calls join two sightings whose lengths differ by less than
    gate_sigma sigmas, which one hull passes almost always and two hulls only as often as the
    sensors' size error blurs them (Sentinel-2's size at the pier: nearly always). With
    ``position`` (the spreads measured on the season's visits) and the sightings' ``positions``
    along the berth, the odds are multiplied by what their places say
    (``PositionModel.odds``)."""
    from scipy.stats import norm

    pc = p.portcalls
    by_time: dict[float, tuple[str, float, list[float]]] = {}
    for k, s in enumerate(v.sightings):
        if s not in scene_at:
            continue
        t, sensor = scene_at[s]
        gsd = gsd_at.get(s, 10.0)
        entry = by_time.setdefault(t, (sensor, gsd, []))
        det = v.evidence[k] if k < len(v.evidence) else None
        if lengths is not None and det in lengths and entry[:2] == (sensor, gsd):
            bias = pc.berth_size_error_for(sensor).bias(gsd)[0]
            entry[2].append(lengths[det] - bias)
    seen = sorted(by_time.items())
    times = np.array([t for t, _ in seen], dtype=float)
    if len(seen) < 2:
        return times, np.zeros(0), np.zeros(0)
    gate = pc.gate_sigma
    ratio = []
    for (_, (sa, ga, la)), (_, (sb, gb, lb)) in zip(seen[:-1], seen[1:], strict=True):
        ea, eb = pc.berth_size_error_for(sa), pc.berth_size_error_for(sb)
        diff = np.hypot(ea.length_sigma(ga, v.length_m), eb.length_sigma(gb, v.length_m))
        # one sensor: the hull's own share of the error (its systematic_frac) cancels
        same = diff * (np.sqrt(1.0 - ea.systematic_frac) if (sa, ga) == (sb, gb) else 1.0)
        two = np.hypot(diff, np.sqrt(2.0) * fleet_sd)
        if la and lb:
            d = float(np.mean(lb) - np.mean(la))
            ratio.append(float(norm.pdf(d, scale=two) / max(norm.pdf(d, scale=same), 1e-300)))
        else:
            ratio.append((2 * norm.cdf(gate * same / two) - 1) / (2 * norm.cdf(gate) - 1))
    if position is not None and positions:
        place = {t: (sensor, x) for t, sensor, x in visit_track(v, scene_at, positions)}
        for k in range(len(ratio)):
            a, b = place.get(float(times[k])), place.get(float(times[k + 1]))
            if a is not None and b is not None:
                ratio[k] *= position.odds(v.berth, a[0], b[0], b[1] - a[1])
    return times, np.diff(times), np.array(ratio)


def _hidden_calls(gaps, observed_clear, hours, pseen, med, sigma_ln, berths, rng) -> np.ndarray:
    """(n, M) draws of the further calls the load visits hold: port-call building joins hulls of
    one size seen at the berth across gaps with no clear image between, and where stays are
    short or the berth busy such a gap often holds a changeover (on the simulated family about
    one detected call in nine was joined to another's visit this way, BENCHMARKS.md). Each gap
    is a changeover with ``changeover_probability`` under each draw's dwell median and the
    berth's utilisation (the calls seen and held over the exposure, times the mean stay, per
    berth; two passes so the calls held count in the rate), its odds multiplied by what the sizes
    say. ``gaps``: (month index, gap hours, the sizes' odds factor of two hulls against one per
    gap: ``_sighting_gaps``) per visit with a clear sighting."""
    n, m = pseen.shape
    out = np.zeros((n, m))
    if not gaps or not any(len(g) for _, g, _ in gaps):
        return out
    all_gaps = np.concatenate([g for _, g, _ in gaps])
    gate = np.concatenate([r for _, _, r in gaps])[None, :]
    month = np.concatenate([np.full(len(g), i) for i, g, _ in gaps]).astype(int)
    exposure = np.maximum((hours[None, :] * pseen).sum(axis=1), 1e-9)
    mean_stay = np.asarray(med, dtype=float) * np.exp(sigma_ln**2 / 2)
    extra = np.zeros(n)
    for _ in range(2):
        rate = (observed_clear.sum() + extra + 0.5) / exposure
        q = changeover_probability(all_gaps, med, sigma_ln, rate * mean_stay / max(1, berths))
        q = q * gate / np.maximum(q * gate + 1.0 - q, 1e-12)  # odds x what the sizes say
        extra = q.sum(axis=1)
    hits = (rng.random(q.shape) < q).astype(float)  # (n, G)
    np.add.at(out.T, month, hits.T)
    return out


def _missed_weights(lengths, clear_by_sensor, hours, pseen, p: EstimateParams):
    """Weights of the calls seen as stand-ins for the calls missed, by hull length: the
    detectors find short hulls less often (a sensor's ``relative_by_length``, measured in its
    bundle's berths.json), so the calls seen over-represent long ones. A call of length L was
    seen with about p_seen x rho(L) (rho: each sensor's recall at L over its pooled recall,
    averaged over the season's clear images by sensor), so the calls missed are the seen ones
    weighted by (1 - p rho) / (p rho). None: no sensor measured by length (all weigh alike)."""
    if not lengths:
        return None
    images = {s: len(t) for s, t in clear_by_sensor.items() if t}
    total = sum(images.values())
    priors = {s: p.portcalls.recall_prior(s) for s in images}
    if not total or not any(x.relative_by_length for x in priors.values()):
        return None
    rho = np.array(
        [sum(images[s] * priors[s].relative(length) for s in images) / total for length in lengths]
    )
    seen = float(np.median((hours[None, :] * pseen).sum(axis=1) / max(hours.sum(), 1e-9)))
    q = np.clip(seen * rho, 1e-3, 0.95)
    w = (1.0 - q) / q
    return w / w.mean()


def _missed_weights_note(port: str, mine, load_of, weights) -> str:
    lengths = np.array([load_of[d.id].length_m for d in mine])
    short = lengths < np.median(lengths)
    if short.any() and (~short).any():
        ratio = f"{weights[short].mean() / weights[~short].mean():.2f}"
    else:
        ratio = "1.00"
    return (
        f"{port}: the calls missed take their barrels from the calls seen weighted by length (the "
        f"detectors find short hulls less often: each sensor's recall by length, measured in its "
        f"bundle's berths.json): a hull shorter than the seen calls' median length counts "
        f"{ratio}x a longer one"
    )


def _hidden_notes(port: str, gaps, hidden: np.ndarray) -> list[str]:
    joined = sum(len(g) > 0 for _, g, _ in gaps)
    total = hidden.sum(axis=1)
    if not joined or np.mean(total) < 0.05:
        return []
    q10, q50, q90 = np.percentile(total, [10, 50, 90])
    return [
        f"{port}: {joined} load visits join sightings with nothing seen between them; by the "
        f"fitted dwell, the berth's use and how well the sizes and places along the berth tell "
        f"hulls apart the gaps hold {np.mean(total):.1f} more calls "
        f"(P10-P90 {q10:.0f}-{q90:.0f}), counted with the calls seen"
    ]


def _clear_bounds(
    v: Visit,
    scene_at: dict[str, tuple[float, str]],
    clear_scene_at: dict[str, tuple[float, str]],
) -> VisitBounds | None:
    """What visit ``v`` says to the coverage model, from its sightings in clear images only.

    The model (``fit_coverage``, ``p_seen``) counts clear images of the berth and nothing else,
    so a sighting in an image whose berth was obscured is outside it: the first and last
    sightings and the hits between them are taken over clear images. None: the visit holds no
    sighting in a clear image (seen only through obscured ones). A visit whose sightings' scenes
    are not all known here is taken whole, as before sightings were kept."""
    if not v.sightings or any(s not in scene_at for s in v.sightings):
        return VisitBounds(
            v.berth, _hours(v.first_seen), _hours(v.last_seen), v.n_obs, _inner_hits(v, scene_at)
        )
    clear = [s for s in dict.fromkeys(v.sightings) if s in clear_scene_at]
    if not clear:
        return None
    if len(clear) == len(dict.fromkeys(v.sightings)):
        return VisitBounds(
            v.berth, _hours(v.first_seen), _hours(v.last_seen), v.n_obs, _inner_hits(v, scene_at)
        )
    times = [clear_scene_at[s][0] for s in clear]
    lo, hi = min(times), max(times)
    inner: dict[str, int] = {}
    for s in clear:
        t, sensor = clear_scene_at[s]
        if lo + 1e-3 < t < hi - 1e-3:
            inner[sensor] = inner.get(sensor, 0) + 1
    return VisitBounds(v.berth, lo, hi, len(clear), inner)


def _inner_hits(v: Visit, scene_at: dict[str, tuple[float, str]]) -> dict[str, int] | None:
    """Sensor -> the visit's sightings strictly between its first and last (None when its
    sightings' scenes are not known: a visit stored before they were kept, or one whose scenes
    have no observation here)."""
    if not v.sightings or any(s not in scene_at for s in v.sightings):
        return None
    lo, hi = _hours(v.first_seen), _hours(v.last_seen)
    out: dict[str, int] = {}
    for s in dict.fromkeys(v.sightings):  # a scene once
        t, sensor = scene_at[s]
        if lo + 1e-3 < t < hi - 1e-3:
            out[sensor] = out.get(sensor, 0) + 1
    return out


def _sensor(o) -> str:
    """An observation's sensor name (observations kept before sensors were named: 'default')."""
    return o.sensor or DEFAULT_SENSOR


def _clear_by_berth(clear_obs) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """berth -> (clear image times in hours, sorted; each one's sensor name)."""
    out: dict[str, dict[float, str]] = {}
    for o in clear_obs:
        out.setdefault(o.berth, {})[_hours(o.acquired)] = _sensor(o)
    return {
        b: (np.array(sorted(d)), np.array([d[t] for t in sorted(d)], dtype=object))
        for b, d in out.items()
    }


def _revisit_h(clear_at: dict[str, tuple[np.ndarray, np.ndarray]]) -> float | None:
    """Median hours between consecutive clear images of a load berth (None: fewer than two)."""
    gaps = np.concatenate([np.diff(t) for t, _ in clear_at.values()] or [np.zeros(0)])
    return float(np.median(gaps)) if len(gaps) else None


def _fit_notes(
    port: str,
    fit: CoverageFit,
    p: EstimateParams,
    revisit_h: float | None = None,
    multi: int | None = None,
    stays: list | None = None,
) -> list[str]:
    """What the imagery said about the dwell and the recall, and how much the priors weighed.

    ``revisit_h``: median hours between clear images of the load berths; ``multi``: load
    visits with two or more sightings (the ones whose span says how long a stay is);
    ``stays``: the transponders' complete stays at the load berths that entered the fit."""
    cov = p.coverage
    m10, m50, m90 = fit.quantiles(0)
    p10, p50, p90 = fit.prior_quantiles()
    weight = fit.dwell_data_weight
    notes = [
        f"{port}: dwell median fitted jointly with the detector recall on {fit.n_visits} load "
        f"visits' sightings and the clear images around them: {m50:.0f} h (P10-P90 "
        f"{m10:.0f}-{m90:.0f} h); prior: {cov.dwell_prior_weight:.0%} on the configured "
        f"{cov.dwell_median_h.low:.0f}-{cov.dwell_median_h.high:.0f} h, the rest log-uniform "
        f"over {cov.dwell_fit_range_h[0]:.0f}-{cov.dwell_fit_range_h[1]:.0f} h "
        f"({p50:.0f} h, P10-P90 {p10:.0f}-{p90:.0f} h alone), each visit's likelihood "
        f"x {cov.fit_visit_weight:g}; data weight {weight:.0%} (share of the prior's variance "
        f"of log dwell the visits and stays removed)"
    ]
    if stays and fit.ais_stays and cov.ais_stay_weight > 0:
        hours = np.array([x.hours for x in stays])
        notes.append(
            f"{port}: {len(stays)} complete stays of transponders at the load berths entered "
            f"the dwell fit (median {np.median(hours):.0f} h, P10-P90 "
            f"{np.percentile(hours, 10):.0f}-{np.percentile(hours, 90):.0f} h; each a "
            f"log-normal observation of the dwell x {cov.ais_stay_weight:g}, taking the "
            f"transmitting calls to stay as long as the dark ones; sigma_ln of their log "
            f"stays {np.std(np.log(hours), ddof=1) if len(hours) > 1 else float('nan'):.2f} "
            f"against the configured {cov.dwell_sigma_ln:g})"
        )
    if revisit_h is not None and multi is not None:
        below = float(fit.marginal(0)[fit.medians < revisit_h].sum())
        notes.append(
            f"{port}: clear images of the load berths are a median {revisit_h:.0f} h apart and "
            f"{multi} of {fit.n_visits} load visits hold two or more sightings: a stay shorter "
            f"than the revisit shows one sighting whatever its length, and the chance of seeing "
            f"it grows with its length, so below about {revisit_h:.0f} h the imagery cannot "
            f"tell dwells apart and the dwell's posterior there has the prior's shape (with it "
            f"the correction for missed calls); {below:.0%} of the fitted dwell median lies there"
        )
    for i, sensor in enumerate(fit.sensors):
        r10, r50, r90 = fit.quantiles(1 + i)
        k, n0, w = fit.images[i], fit.prior_n[i], cov.fit_visit_weight
        prior = p.portcalls.recall_prior(sensor)
        entry = sensor if sensor in p.portcalls.detector_recall else DEFAULT_SENSOR
        where = f"portcalls.detector_recall.{entry}"
        if prior.measured:
            where += f", measured in {prior.measured}"
        notes.append(
            f"{port}: detector recall per clear image on {sensor}: {r50:.2f} (P10-P90 "
            f"{r10:.2f}-{r90:.2f}) from {k} clear images inside the visits and the misses "
            f"around them, with the configured {prior.low:.2f}-{prior.high:.2f} "
            f"({where}) as a Beta prior worth {n0:.0f} images (data "
            f"weight {k * w / (k * w + n0):.0%}, each visit counted x {w:g}; each sensor's "
            f"hits counted apart on {fit.by_sensor_visits} of {fit.n_visits} visits)"
        )
    if fit.n_visits < cov.dwell_fit_min_visits:
        notes.append(
            f"{port}: only {fit.n_visits} load visits: dwell and recall rest mostly on the priors "
            f"and the corrected totals are wide (the imagery cannot support a sharper number)"
        )
    return notes


PRIOR_POOL_CALLS = 32  # stand-ins for the calls of a port where none was seen


def _prior_pool(
    p: EstimateParams, rng: np.random.Generator, n: int, common_z: np.ndarray | None = None
) -> np.ndarray:
    """(PRIOR_POOL_CALLS, n) barrels of calls by tankers nobody saw: lengths spread over the
    identification range (a normal with the range's mean and standard deviation), with the
    season's common loading factor ``common_z`` (None: drawn here) in each draw."""
    from pipeline.estimate.registry import DwtRelation, Identification

    lo, hi = p.identification.length_range_m
    rel = DwtRelation(p.capacity.a, p.capacity.b, p.capacity.sigma_ln, "configs/estimate")
    ident = Identification([], 1.0, p.identification.threshold)
    mid, half = (lo + hi) / 2, (hi - lo) / 2
    # sigma = half-range / sqrt(3): the spread of a uniform length over the range
    common = rng.standard_normal(n) if common_z is None else common_z
    return np.stack(
        [
            barrel_draws(ident, mid, half / np.sqrt(3), rel, "unknown", p.volume, rng, common)
            for _ in range(PRIOR_POOL_CALLS)
        ]
    )


def _corrected(c10, c50, c90, b10, b50, b90) -> dict:
    def r(x, nd):
        return None if x is None else round(float(x), nd)

    return {
        "calls_corrected_p10": r(c10, 2),
        "calls_corrected_p50": r(c50, 2),
        "calls_corrected_p90": r(c90, 2),
        "barrels_corrected_p10": r(b10, 1),
        "barrels_corrected_p50": r(b50, 1),
        "barrels_corrected_p90": r(b90, 1),
    }


def _capacity_share(observed, hours, pseen, cap) -> float:
    """Share of draws whose expected call rate (calls seen over the hours the images cover)
    exceeds the berths' capacity: where capacity, not the imagery, bounds the corrected calls."""
    exposure = (hours[None, :] * pseen).sum(axis=1)
    rate = (observed.sum() + 0.5) / np.maximum(exposure, 1e-9)
    return float(np.mean(rate > cap))
