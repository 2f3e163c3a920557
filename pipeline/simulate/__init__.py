"""The simulator: a scenario -> georeferenced scenes of its ports, labels, STAC items and truth.

Entry: ``simulate(scenario, out_dir, seed=None) -> Path``; training chips are
``pipeline.simulate.chips.write_chips``.
"""

from pipeline.simulate.run import simulate

__all__ = ["simulate"]
