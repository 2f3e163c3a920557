"""`tankerwatch ports trace --db`: a port traced from the ledger's scenes and detections.

The ledger is only read: its scenes of the port (the cached GeoTIFFs and SCL beside them), their
detections (one model per sensor) and the persistent objects among them, handed to the port-call
stage's tracer (pipeline.portcalls.trace)."""

from __future__ import annotations

from datetime import date
from typing import Any

from pipeline.errors import TankerWatchError


def trace_from_ledger(
    db: str,
    port,
    params: Any,
    start: date | None = None,
    end: date | None = None,
    models: str | None = None,
    trace_params=None,
):
    """The Trace of ``port`` from the ledger at ``db`` (read only)."""
    from pipeline.ledger.store import open_for_reading
    from pipeline.portcalls.persistent import find_persistent
    from pipeline.portcalls.trace import TraceParams, stack_from_scenes, trace_port
    from pipeline.run.steps import ledger_inputs

    tp = trace_params or TraceParams()
    with open_for_reading(db) as ledger:
        inputs = ledger_inputs(ledger, [port], start, end, models=models)
    if not inputs.scenes:
        raise TankerWatchError(f"{db}: no scenes of port '{port.name}' in the ledger")
    stack = stack_from_scenes(inputs.scenes)
    flags = find_persistent(inputs.detections, inputs.scenes, params)
    p = getattr(params, "portcalls", params)
    return trace_port(
        port,
        stack,
        inputs.detections,
        inputs.scenes,
        tp,
        persistent=flags,
        size_error_for=p.size_error_for,
    )
