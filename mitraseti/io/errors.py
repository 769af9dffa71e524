"""Errors raised by the readers and writers of mitraseti.io."""
from __future__ import annotations

import os

from mitraseti.errors import InputError


class ObservationFormatError(InputError, ValueError):
    """A file is not a valid observation (SIGPROC .fil or Breakthrough Listen .h5).

    The message always starts with the file path and says what was wrong and what was
    expected. Structured fields: ``path`` (str) and ``problem`` (str).
    """

    def __init__(self, path: str | os.PathLike | None, problem: str) -> None:
        path = "<unknown file>" if path is None else os.fspath(path)
        super().__init__(f"{path}: {problem}", path=path, problem=problem)


class ObservationNotFoundError(ObservationFormatError, FileNotFoundError):
    """The observation file does not exist (also a FileNotFoundError)."""
