"""The one exception type for errors a user can cause (bad file, config, credentials, server)."""


class TankerWatchError(Exception):
    """A problem the user can fix. The CLI prints ``str(error)`` on one line and exits 2.

    The message must name the file, field or URL concerned and say what is wrong, and must
    never contain credentials.
    """

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))
