"""Run-level AIS step: read AIS files and keep their positions and static data in the ledger.

Every file is read (and checked) before anything is written, so a file that is not AIS stops
the command with nothing kept; each file is then written in its own transaction, keyed by MMSI
and time, so a run killed half-way is finished by running it again and a repeat adds nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.errors import TankerWatchError
from pipeline.ingest.ais import AisFile, read_many


@dataclass
class AisIngestSummary:
    files: list[AisFile] = field(default_factory=list)
    added: list[int] = field(default_factory=list)  # positions added per file

    def lines(self) -> list[str]:
        out = [f"{f.line()}; {n} new" for f, n in zip(self.files, self.added, strict=True)]
        total = sum(len(f.positions) for f in self.files)
        out.append(
            f"ais: {len(self.files)} files, {total} positions read, {sum(self.added)} added "
            f"({total - sum(self.added)} already in the ledger), "
            f"{sum(f.n_bad for f in self.files)} bad rows skipped"
        )
        return out


def expand_paths(paths: list[Path]) -> list[Path]:
    """Files as given; a folder stands for the files in it (sorted, hidden ones left out)."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.is_file() and not f.name.startswith("."))
        elif p.is_file():
            out.append(p)
        else:
            raise TankerWatchError(f"{p}: no such file or folder")
    if not out:
        raise TankerWatchError("ingest --source ais: no AIS files given (--path FILE ...)")
    return out


def read_ais_files(paths: list[Path]) -> list[AisFile]:
    """Every file read and checked (a file that is not AIS raises before anything is kept)."""
    return read_many(expand_paths(paths))


def keep_ais(files: list[AisFile], ledger) -> AisIngestSummary:
    """Keep files read by ``read_ais_files`` in ``ledger``, one transaction per file."""
    summary = AisIngestSummary()
    for f in files:
        summary.files.append(f)
        summary.added.append(ledger.add_ais(f.positions, f.static, str(f.path)))
    return summary


def ingest_ais(paths: list[Path], ledger) -> AisIngestSummary:
    """Read the AIS files and keep them in ``ledger`` (a pipeline.ledger.store.Ledger)."""
    return keep_ais(read_ais_files(paths), ledger)
