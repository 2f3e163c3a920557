def _not_yet(verb: str) -> None:
    from pipeline.errors import TankerWatchError

    raise TankerWatchError(f"'tankerwatch {verb}' is not implemented yet in this version")


def detect() -> None:
    """detect (not implemented yet)."""
    _not_yet("detect")


def train() -> None:
    """train (not implemented yet)."""
    _not_yet("train")


def evaluate() -> None:
    """evaluate (not implemented yet)."""
    _not_yet("evaluate")
