"""Batch runs over the ledger: the only place, with the ledger itself, where results persist.

- ``batch``: `tankerwatch run` (``run_pipeline``) over a run config (``config``);
- ``steps``: the run-level steps shared with `portcalls --db` and `estimate --db` (the ledger's
  records for port calls; an estimate saved as a run under the one run-id recipe);
- ``detect``: the per-scene unit of work; ``executors``: where it runs (local or Dask).
"""

from pipeline.run.batch import RunSummary, run_pipeline, summary_table
from pipeline.run.config import RunConfig, SourceSpec, load_run_config, resolve

__all__ = [
    "RunConfig",
    "RunSummary",
    "SourceSpec",
    "load_run_config",
    "resolve",
    "run_pipeline",
    "summary_table",
]
