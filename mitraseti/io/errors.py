"""Errors raised by the readers and writers of mitraseti.io."""
from __future__ import annotations

import os


class ObservationFormatError(ValueError):
    """A file is not a valid observation (SIGPROC .fil or Breakthrough Listen .h5).

    The message always starts with the file path and says what was wrong and what was
    expected. Structured fields: ``path`` (str) and ``problem`` (str).
    """

    def __init__(self, path: str | os.PathLike | None, problem: str) -> None:
        self.path = "<unknown file>" if path is None else os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):  # keep pickling (multiprocessing, papermill) working
        return (type(self), (self.path, self.problem))


class ObservationNotFoundError(ObservationFormatError, FileNotFoundError):
    """The observation file does not exist (also a FileNotFoundError)."""
