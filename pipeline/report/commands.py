def _not_yet(verb: str) -> None:
    from pipeline.errors import TankerWatchError

    raise TankerWatchError(f"'tankerwatch {verb}' is not implemented yet in this version")


def report() -> None:
    """Report (not implemented yet)."""
    _not_yet("report")
