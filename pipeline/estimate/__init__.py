"""Estimation: identification, barrels with uncertainty, coverage correction and UN caps."""

from pipeline.estimate.core import EstimateResult, run_estimate

__all__ = ["EstimateResult", "run_estimate"]
