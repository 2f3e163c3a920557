"""The self-contained HTML report: one file, every image embedded, no network needed (the
port maps inline Leaflet; their OpenStreetMap tiles are an option that needs a network).

The charts are also written as PNG files beside the HTML (``<stem>-timeline.png``, ...; with
AIS in the ledger also ``<stem>-ais.png``, the map of tracks beside the detections), for reuse in
articles. Every number shown names the run it comes from.
"""

from __future__ import annotations

import base64
import html
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.fsutil import atomic_write_bytes, atomic_write_text
from pipeline.ledger.store import Ledger
from pipeline.records import iso
from pipeline.report import figures, plots, portmap

log = logging.getLogger(__name__)
MAX_CHIPS_PER_DELIVERY = 6

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:1180px;color:#1d1d1d;line-height:1.4;padding:0 16px}
h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
.meta{color:#555;font-size:.9em}.cards{display:flex;flex-wrap:wrap;gap:12px;margin:12px 0}
.card{border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:190px}
.card b{display:block;font-size:1.5em}.card span{color:#555;font-size:.85em}
table{border-collapse:collapse;font-size:.85em;margin:8px 0}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left}th{background:#f3f3f3}
td.n{text-align:right;font-variant-numeric:tabular-nums}
img.chart{max-width:100%}.gallery{display:flex;flex-wrap:wrap;gap:14px}
figure{margin:0;border:1px solid #ddd;border-radius:4px;padding:6px;width:max-content}
figcaption{font-size:.75em;color:#444;max-width:256px;overflow-wrap:anywhere}
.missing{background:#fff4e5;border:1px dashed #e0a040;padding:18px;font-size:.8em;width:260px}
.note{background:#f6f6f6;padding:10px 14px;border-left:4px solid #999;font-size:.9em}
"""


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _n(value: Any, digits: int = 0) -> str:
    if value is None or value == "":
        return "n/a"
    return f"{float(value):,.{digits}f}"


def _img(data: bytes, alt: str, cls: str = "chart", mime: str = "image/png") -> str:
    b64 = base64.b64encode(data).decode("ascii")
    return f'<img class="{cls}" alt="{_e(alt)}" src="data:{mime};base64,{b64}">'


def _table(
    columns: list[tuple[str, str]],
    rows: list[dict[str, Any]],
    numeric: set[str],
    raw: frozenset[str] | set[str] = frozenset(),
) -> str:
    """An HTML table; cells are escaped except the ``raw`` columns (already HTML)."""
    head = "".join(f"<th>{_e(title)}</th>" for _, title in columns)
    body = []
    for r in rows:
        cells = []
        for key, _ in columns:
            v = r.get(key)
            if hasattr(v, "tzinfo"):
                v = iso(v)
            if key in numeric:
                # probabilities and the like get decimals; counts and barrels do not
                digits = 2 if key.startswith(("id_probability", "p_")) else 0
                cells.append(f'<td class="n">{_n(v, digits)}</td>')
            elif key in raw:
                cells.append(f"<td>{v}</td>")
            else:
                cells.append(f"<td>{_e(v)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><tr>{head}</tr>{''.join(body)}</table>"


def build_report(
    ledger: Ledger,
    out: Path | str,
    run_id: str | None = None,
    ports: list[Any] | None = None,
    map_scenes: list[str] | None = None,
) -> dict[str, Any]:
    """Write the HTML report and its PNG charts; returns a small summary.

    ``ports`` (port configs) are the ports the map draws (default: the run's, from
    configs/ports); ``map_scenes`` the scene ids to show on them, one per port (default: per
    port the scene with the most detections at berths; see ``portmap``)."""
    out = Path(out)
    data = figures.load(ledger, run_id)
    # the maps first: a bad --map-scene stops the report before anything is written
    maps, map_notes = portmap.port_maps(
        ledger, data.run, data.visits, data.deliveries, ports, map_scenes
    )
    head = figures.headline(data)
    charts = {
        "timeline": plots.timeline_png(data),
        "cumulative": plots.cumulative_png(data),
        "monthly": plots.monthly_png(data),
    }
    ais_map = plots.ais_map_png(data)
    if ais_map is not None:
        charts["ais"] = ais_map
    for name, png in charts.items():
        atomic_write_bytes(out.with_name(f"{out.stem}-{name}.png"), png)
    gallery, chips, n_chips, n_missing = _gallery(ledger, data)
    doc = _document(ledger, data, head, charts, gallery, chips, (maps, map_notes))
    atomic_write_text(out, doc)
    return {
        "html": str(out),
        "deliveries": len(data.deliveries),
        "chips": n_chips,
        "missing_rasters": n_missing,
        "run_id": head["run_id"],
        "maps": [
            {"port": m.port, "scene": m.scene.id if m.scene else None, **m.counts} for m in maps
        ],
    }


def _maps_html(maps: list[portmap.PortMap], notes: list[str]) -> str:
    parts = [f"<h3>{_e(m.port)}</h3>{m.html}" for m in maps]
    parts += [f'<p class="meta">{_e(n)}.</p>' for n in notes]
    if not maps and not notes:
        parts.append('<p class="meta">No port to map: the ledger has no scenes.</p>')
    return "".join(parts)


def _ais_text(d: Any) -> str:
    if d.dark is None:
        return ""
    return "dark" if d.dark else (f"MMSI {d.ais_mmsi}" if d.ais_mmsi is not None else "weak")


def _gallery(ledger: Ledger, data: figures.ReportData) -> tuple[str, dict[str, str], int, int]:
    """The evidence section, each delivery's chips (HTML, by delivery id, for reuse) and the
    counts of chips cut and of rasters missing."""
    from rich.progress import Progress

    parts, n_chips, n_missing = [], 0, 0
    chips: dict[str, str] = {}
    dets = data.detections
    scenes: dict[str, Any] = {}
    ordered = sorted(data.deliveries, key=lambda d: (figures.delivery_time(d, data.visits), d.id))
    with Progress(transient=True) as progress:
        task = progress.add_task("evidence chips", total=len(ordered))
        for d in ordered:
            v = data.visits[d.load_visit]
            ids = [i for i in data.evidence.get(d.id, {}).get("detections", []) if i in dets]
            ids.sort(key=lambda i: (dets[i].scene_id, i))
            figs = []
            for det_id in ids[:MAX_CHIPS_PER_DELIVERY]:
                det = dets[det_id]
                if det.scene_id not in scenes:
                    scenes[det.scene_id] = ledger.scene(det.scene_id)
                scene = scenes[det.scene_id]
                caption = (
                    f"{_e(det.scene_id)}<br>detection {_e(det.id)}: {det.length_m:.0f} m x "
                    f"{det.beam_m:.0f} m, score {det.score:.2f}"
                )
                if scene is None:
                    n_missing += 1
                    figs.append(
                        f'<figure><div class="missing">Scene {_e(det.scene_id)} is not in the '
                        f"ledger catalogue; no image.</div><figcaption>{caption}</figcaption>"
                        "</figure>"
                    )
                    continue
                try:
                    chip = plots.chip_jpeg(scene, det)
                except FileNotFoundError:
                    n_missing += 1
                    figs.append(
                        f'<figure><div class="missing">Image not available: the scene raster '
                        f"<code>{_e(scene.path)}</code> is missing, so no chip could be cut. "
                        f"The detection is still listed.</div><figcaption>{caption}"
                        "</figcaption></figure>"
                    )
                    continue
                except Exception as exc:  # a damaged raster must not stop the report
                    n_missing += 1
                    log.warning("chip for %s: %s", det.id, exc)
                    figs.append(
                        f'<figure><div class="missing">Image could not be read from '
                        f"<code>{_e(scene.path)}</code>: {_e(exc)}</div>"
                        f"<figcaption>{caption}</figcaption></figure>"
                    )
                    continue
                n_chips += 1
                figs.append(
                    f"<figure>{_img(chip, f'detection {det.id}', 'chip', 'image/jpeg')}"
                    f"<figcaption>{caption}</figcaption></figure>"
                )
            more = len(ids) - MAX_CHIPS_PER_DELIVERY
            if more > 0:
                figs.append(f'<p class="meta">and {more} more detections</p>')
            if not ids:
                figs.append('<p class="meta">no detections of this delivery in the ledger</p>')
            chips[d.id] = "".join(figs)
            ais = {"dark": "; AIS: dark (no transponder matched)", "": ""}.get(
                figures.ais_state(d), f"; named by AIS, MMSI {d.ais_mmsi}"
            )
            parts.append(
                f'<h3 id="d-{_e(d.id)}">{_e(_vessel(d))} at {_e(v.port)} / {_e(v.berth)}, '
                f"{v.first_seen:%Y-%m-%d} to {v.last_seen:%Y-%m-%d}</h3>"
                f'<p class="meta">delivery {_e(d.id)}: {_n(d.barrels_p50)} bbl p50 '
                f"({_n(d.barrels_p10)} to {_n(d.barrels_p90)}), {_e(d.product)}; "
                f"identification p = {d.id_probability:.2f}{ais}</p>"
                f'<div class="gallery">{chips[d.id]}</div>'
            )
            progress.advance(task)
    return "".join(parts), chips, n_chips, n_missing


def _vessel(d, k: int = 3) -> str:
    """The delivery's vessel; an unnamed one with its best candidates and their posteriors."""
    if d.vessel != "unidentified":
        return d.vessel
    named = [c for c in d.candidates or [] if c.get("name") != "unidentified"][:k]
    if not named:
        return d.vessel
    best = ", ".join(f"{c['name']} {float(c['probability']):.2f}" for c in named)
    return f"unidentified (best candidates: {best})"


def _dark_html(data: figures.ReportData, charts: dict[str, bytes], chips: dict[str, str]) -> str:
    """The dark calls with their evidence chips, and the map of AIS tracks."""
    if all(d.dark is None for d in data.deliveries):
        return (
            '<p class="meta">No AIS verdicts in this run (no AIS in the ledger around its '
            "images, or no deliveries): dark calls cannot be told from the others.</p>"
        )
    dark = figures.dark_calls(data)
    named = sum(figures.ais_state(d) == "named" for d in data.deliveries)
    rows = []
    for d in dark:
        v = data.visits[d.load_visit]
        rows.append(
            {
                "id": f'<a href="#d-{_e(d.id)}">{_e(d.id)}</a>',
                "vessel": _vessel(d),
                "id_probability": d.id_probability,
                "berth": f"{v.port}/{v.berth}",
                "first_seen": v.first_seen,
                "last_seen": v.last_seen,
                "barrels_p50": d.barrels_p50,
                "chips": f'<div class="gallery">{chips.get(d.id, "")}</div>',
            }
        )
    table = (
        _table(
            [
                ("id", "delivery"),
                ("vessel", "vessel (by size)"),
                ("id_probability", "identification p"),
                ("berth", "load berth"),
                ("first_seen", "first seen"),
                ("last_seen", "last seen"),
                ("barrels_p50", "bbl p50"),
                ("chips", "evidence"),
            ],
            rows,
            {"id_probability", "barrels_p50"},
            raw={"id", "chips"},
        )
        if rows
        else '<p class="meta">No dark calls: every call with an AIS verdict matched one.</p>'
    )
    ais_map = (
        _img(charts["ais"], "AIS tracks beside the detections")
        if "ais" in charts
        else '<p class="meta">No AIS reports around the detections to map.</p>'
    )
    return (
        f'<p class="meta">{len(dark)} of {len(data.deliveries)} calls are dark: AIS was '
        "available, but no transponder matched the hull in any of its images (off, spoofed "
        f"elsewhere, or not fitted); {named} were named by their transponder. A dark call's "
        "vessel is the size-based identification.</p>"
        f"{table}{ais_map}"
    )


def _dates(row: dict[str, Any]) -> dict[str, Any]:
    """A cap row with its dates as days (the time of day is no real precision)."""
    keys = ("cap_passed_utc", "cap_passed_p10_utc", "cap_passed_p90_utc")
    return {**row, **{k: (row.get(k) or "")[:10] for k in keys if k in row}}


def _corrected_cap_card(row: dict[str, Any] | None) -> tuple[str, str]:
    if row is None:
        return "n/a", "UNSCR 2397 cap passed, coverage-corrected (no observation schedule)"
    if not row.get("cap_passed_utc"):
        return (
            "not passed",
            f"UNSCR 2397 cap, coverage-corrected: passed in {row['year']} with probability "
            f"{float(row.get('p_passed') or 0):.2f}",
        )
    p90 = (row.get("cap_passed_p90_utc") or "")[:10] or "not passed"
    return (
        row["cap_passed_utc"][:10],
        f"UNSCR 2397 cap passed, coverage-corrected p50 (p10 {row['cap_passed_p10_utc'][:10]}, "
        f"p90 {p90}; probability passed {float(row.get('p_passed') or 0):.2f})",
    )


def _notes_html(run: Any, notes: list[str]) -> str:
    """The estimate's notes, as saved with the run."""
    if run is None or run.estimated_utc is None:
        return '<p class="meta">No estimate yet.</p>'
    if run.notes is None:
        return (
            '<p class="meta">This run was estimated before the ledger kept the estimate\'s notes '
            "(schema 0005); estimate it again to see them.</p>"
        )
    if not notes:
        return '<p class="meta">The estimate left no notes.</p>'
    items = "".join(f"<li>{_e(n)}</li>" for n in notes)
    return (
        '<p class="meta">What the estimate fitted, assumed and could not see (its notes, saved '
        f'with run <code>{_e(run.id)}</code>):</p><ul class="notes">{items}</ul>'
    )


def _document(
    ledger: Ledger,
    data: figures.ReportData,
    head: dict[str, Any],
    charts: dict[str, bytes],
    gallery: str,
    chips: dict[str, str] | None = None,
    maps: tuple[list[portmap.PortMap], list[str]] = ([], []),
) -> str:
    run = data.run
    if run is None or run.estimated_utc is None:
        run_line = "No estimate has been saved in this ledger yet."
    else:
        run_line = (
            f"Run <code>{_e(run.id)}</code>, model <code>{_e(run.model)}</code>, "
            f"TankerWatch {_e(run.code_version)}, config {_e(run.config_hash[:12])}, "
            f"estimated {_e(iso(run.estimated_utc))}"
        )
    cards = [
        (_n(head["calls_observed"]), "tanker calls observed"),
        (
            f"{_n(head['calls_corrected_p50'])}",
            f"calls, coverage-corrected p50 ({_n(head['calls_corrected_p10'])} to "
            f"{_n(head['calls_corrected_p90'])})",
        ),
        (_n(head["barrels_observed_p50"]), "barrels observed (p50)"),
        (
            _n(head["barrels_corrected_p50"]),
            f"barrels, corrected p50 ({_n(head['barrels_corrected_p10'])} to "
            f"{_n(head['barrels_corrected_p90'])})",
        ),
        (
            head["cap_passed_utc"][:10] or "not passed",
            "UNSCR 2397 cap passed, observed deliveries (p50)",
        ),
        _corrected_cap_card(head["cap_corrected"]),
    ]
    cards_html = "".join(
        f"<div class='card'><b>{_e(a)}</b><span>{_e(b)}</span></div>" for a, b in cards
    )
    caps_html = _table(
        [
            ("year", "year"),
            ("product_class", "product"),
            ("scenario", "scenario"),
            ("cap_bbl", "cap (bbl)"),
            ("cumulative_bbl", "cumulative (bbl)"),
            ("cumulative_p10_bbl", "p10"),
            ("cumulative_p90_bbl", "p90"),
            ("cap_passed_utc", "cap passed"),
            ("cap_passed_p10_utc", "passed p10"),
            ("cap_passed_p90_utc", "passed p90"),
            ("p_passed", "p passed"),
        ],
        [_dates(c) for c in head["caps"]],
        {"cap_bbl", "cumulative_bbl", "cumulative_p10_bbl", "cumulative_p90_bbl", "p_passed"},
    )
    vessels_html = _table(
        [
            ("vessel", "vessel"),
            ("imo", "IMO"),
            ("deliveries", "deliveries"),
            ("barrels_p50", "barrels p50"),
            ("barrels_p10", "p10"),
            ("barrels_p90", "p90"),
            ("id_probability_mean", "mean identification p"),
            ("first_seen", "first seen"),
            ("last_seen", "last seen"),
            ("berths", "berths"),
        ],
        figures.vessel_table(data),
        {"deliveries", "barrels_p50", "barrels_p10", "barrels_p90", "id_probability_mean"},
    )
    by_vessel: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for d in sorted(data.deliveries, key=lambda d: figures.delivery_time(d, data.visits)):
        v = data.visits[d.load_visit]
        by_vessel.setdefault((d.vessel, d.imo or ""), []).append(
            {
                "id": f'<a href="#d-{_e(d.id)}">{_e(d.id)}</a>',
                "berth": f"{v.port}/{v.berth}",
                "arrived_after": v.arrived_after,
                "first_seen": v.first_seen,
                "last_seen": v.last_seen,
                "departed_before": v.departed_before,
                "id_probability": d.id_probability,
                "barrels_p10": d.barrels_p10,
                "barrels_p50": d.barrels_p50,
                "barrels_p90": d.barrels_p90,
                "scenes": len(data.evidence.get(d.id, {}).get("scenes", [])),
                "ais": _ais_text(d),
            }
        )
    per_vessel = []
    has_ais = any(d.dark is not None for d in data.deliveries)
    for row in figures.vessel_table(data):
        rows = by_vessel.get((row["vessel"], row["imo"]), [])
        imo = f", IMO {_e(row['imo'])}" if row["imo"] else ""
        per_vessel.append(
            f"<h3>{_e(row['vessel'])}{imo}: {len(rows)} deliveries</h3>"
            + _table(
                [
                    ("id", "delivery"),
                    ("berth", "load berth"),
                    ("arrived_after", "arrived after"),
                    ("first_seen", "first seen"),
                    ("last_seen", "last seen"),
                    ("departed_before", "departed before"),
                    ("id_probability", "identification p"),
                    ("barrels_p10", "bbl p10"),
                    ("barrels_p50", "bbl p50"),
                    ("barrels_p90", "bbl p90"),
                    ("scenes", "evidence scenes"),
                ]
                + ([("ais", "AIS")] if has_ais else []),
                rows,
                {"id_probability", "barrels_p10", "barrels_p50", "barrels_p90", "scenes"},
                raw={"id"},
            )
        )
    deliveries_html = "".join(per_vessel) or '<p class="meta">No deliveries.</p>'
    generated = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    p_seen = head.get("p_seen")
    p_seen_txt = f"{float(p_seen):.2f}" if p_seen is not None else "n/a"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>TankerWatch report</title><style>{CSS}</style>
{portmap.leaflet_head() if maps[0] else ""}</head>
<body>
<h1>TankerWatch: oil deliveries seen from space</h1>
<p class="meta">{run_line}. Ledger {_e(ledger.display_url)}. Report generated {generated} by
TankerWatch {_e(__version__)}.</p>
<div class="cards">{cards_html}</div>
<p class="note">Barrels are estimates from the measured vessel size and its loading; p10-p90 give
the range. Corrected figures add the calls the imagery could not see (gaps between passes and
clouds; probability a call was seen at least once: {p_seen_txt}). Every delivery below links to
the satellite images it rests on.</p>
<h2>How these figures were made</h2>
{_notes_html(run, head["notes"])}
<h2>Visits per berth</h2>
{_img(charts["timeline"], "timeline of visits per berth")}
<h2>Cumulative barrels against the UNSCR 2397 cap</h2>
{_img(charts["cumulative"], "cumulative barrels against the cap")}
<p class="meta">Scenarios p50, 33, 50 and 90 add up the deliveries seen; <code>corrected</code>
adds the calls the imagery missed: its dates are the p10 / p50 / p90 of the date each Monte Carlo
draw's running total passed the cap ("p passed": the share of draws that passed it in the
period; a date is empty where fewer than that share did).</p>
{caps_html}
<h2>Calls per month</h2>
{_img(charts["monthly"], "calls per month")}
<h2>Vessels</h2>
{vessels_html}
<h2>Deliveries, vessel by vessel</h2>
{deliveries_html}
<h2>Dark calls and AIS</h2>
{_dark_html(data, charts, chips or {})}
<h2>Map: the port geometry against the imagery</h2>
<p class="meta">Does the port file fit the images? Each port's AOI, land and berths over one
scene, with that scene's detections and the run's visits; switch layers on and off at the top
right, click a shape for its details. The background is plain (OpenStreetMap tiles are an option
that needs a network).</p>
{_maps_html(*maps)}
<h2>Evidence</h2>
<p class="meta">Every delivery's detections, cut from the scene raster; the footprint the
detector measured is drawn in yellow.</p>
{gallery or '<p class="meta">No deliveries.</p>'}
</body></html>
"""
