"""Ingest: imagery of ports for a period -> cached AOI scenes and the scene catalogue.

Entry: ``ingest(ports, start, end, source, catalogue, cache_dir, path=None, settings=None)``.
"""

from pipeline.ingest.core import IngestSummary, ingest

__all__ = ["IngestSummary", "ingest"]
