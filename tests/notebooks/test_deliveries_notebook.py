"""notebooks/deliveries.ipynb runs top to bottom against a ledger and shows its figures."""

from __future__ import annotations

from pathlib import Path

from ledger.factory import build, fill

from pipeline.ledger.store import Ledger

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "deliveries.ipynb"


def _text(nb) -> str:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", ""))
            out.append(o.get("data", {}).get("text/plain", ""))
    return "\n".join(out)


def test_notebook_runs_and_reproduces_the_headline(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    sample = build(seed=0)
    db = tmp_path / "ledger.db"
    with Ledger(db) as led:
        run_id = fill(led, sample)
    monkeypatch.setenv("TANKERWATCH_LEDGER", str(db))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel draws inline
    nb = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    text = _text(nb)
    assert run_id in text
    assert "checks passed" in text
    assert "deliveries without scene evidence: 0" in text
    cap = next(c for c in sample.coverage["caps"] if c["scenario"] == "p50")["cap_passed_utc"]
    assert f"UNSCR 2397 cap passed (p50): {cap}" in text
    totals = sample.coverage["totals"]
    assert f"{totals['barrels_corrected_p50']:.0f}" in text
    # the coverage-corrected cap dates, and the estimate's notes saved with the run
    corrected = next(c for c in sample.coverage["caps"] if c["scenario"] == "corrected")
    assert (
        "UNSCR 2397 cap passed, coverage-corrected: "
        f"{corrected['cap_passed_utc'][:10]} (P10 {corrected['cap_passed_p10_utc'][:10]}, "
        f"P90 {corrected['cap_passed_p90_utc'][:10]})"
    ) in text
    for note in sample.notes:
        assert f"- {note}" in text
    # calls are whole numbers (the stored corrected P50 is fractional)
    calls = totals["calls_corrected_p50"]
    assert calls != int(calls) and f"{calls:.1f}" not in text
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert len(images) == 2  # the cap chart and the monthly chart
