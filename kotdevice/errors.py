"""Errors a user can act on. The CLI prints them as one line and exits non-zero."""


class KotError(Exception):
    """A clear, one-line problem with the user's input, config or environment."""


class InputFileError(KotError):
    """A malformed input file; the message names the file and line."""

    def __init__(self, path, line_no: int, what: str):
        self.path = str(path)
        self.line_no = line_no
        self.what = what
        super().__init__(f"{self.path}:{line_no}: {what}")
