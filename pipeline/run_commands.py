def _not_yet(verb: str) -> None:
    from pipeline.errors import TankerWatchError

    raise TankerWatchError(f"'tankerwatch {verb}' is not implemented yet in this version")


def run() -> None:
    """run (not implemented yet)."""
    _not_yet("run")


def demo() -> None:
    """demo (not implemented yet)."""
    _not_yet("demo")
