"""The exceptions of MitraSETI: one root with structured fields.

Every error that MitraSETI raises on purpose derives from :class:`MitraSETIError`. Besides
its message, each carries named fields (``exc.fields``, also plain attributes) so that
callers map errors by type and read the details without parsing the text:

* :class:`InputError`: the caller's input or parameters are wrong (the CLI exits 2; the
  REST API answers 400). Subclasses: :class:`ParameterError` (``parameter``, ``expected``,
  ``got``), ``mitraseti.io.ObservationFormatError`` (``path``, ``problem``),
  ``mitraseti.signals.CadenceError``, ``mitraseti.signals.RfiBandError``,
  ``mitraseti.console.CliError``.
* Other subclasses: :class:`ModelLoadError` (here so that the CLI names it without
  loading the classifier's dependencies; also ``mitraseti.signals.ModelLoadError``),
  ``mitraseti.cli.CommandUnavailable``, ``mitraseti.client.MitraSETIAPIError`` and
  ``mitraseti.client.JobTimeout``; the REST service adds its own (``mitraseti_server.errors``).

Subclasses also keep the built-in base they had before the root existed (``ValueError``,
``RuntimeError``, ``FileNotFoundError``, ``TimeoutError``), so ``except ValueError`` still
catches a ParameterError. Errors pickle with their fields (multiprocessing, papermill).
"""
from __future__ import annotations

import os
from typing import Any

__all__ = ["MitraSETIError", "InputError", "ParameterError", "ModelLoadError"]

_UNSET: Any = object()


def _rebuild(cls: type, args: tuple, state: dict) -> BaseException:
    """Unpickle an error without calling its ``__init__`` (subclasses' signatures differ).
    ``__new__`` comes from the built-in type whose memory layout ``cls`` extends (e.g.
    FileNotFoundError's, not ValueError's, for a class deriving from both)."""
    builtin = cls
    while builtin.__module__ != "builtins":
        builtin = builtin.__base__
    exc = builtin.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(state)
    return exc


class MitraSETIError(Exception):
    """Root of MitraSETI's errors. ``message``: the text (also ``str(exc)``); ``fields``:
    the structured details by name, each also an attribute of the exception."""

    def __init__(self, message: str, **fields: Any) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields
        for name, value in fields.items():
            setattr(self, name, value)

    def __reduce__(self):
        return (_rebuild, (type(self), self.args, dict(self.__dict__)))

    def to_dict(self) -> dict[str, Any]:
        """``{"error": class name, "message": text, **fields}``, fields made JSON-safe
        (anything but None, bool, int, float and str becomes its ``repr``)."""
        safe = {k: v if v is None or isinstance(v, (bool, int, float, str)) else repr(v)
                for k, v in self.fields.items()}
        return {"error": type(self).__name__, "message": self.message, **safe}


class InputError(MitraSETIError):
    """The caller's input (a file, a parameter, a table) is wrong; the message says what
    and what was expected. The CLI reports it on one line with exit status 2."""


class ParameterError(InputError, ValueError):
    """A parameter is out of range or of the wrong type.

    Fields: ``parameter`` (its name, or None when the message names several), ``expected``
    (what it must be, in words, with units) and ``got`` (the value given). The message is
    ``"<parameter> must be <expected>, got <got>"`` unless one is passed (``got`` as
    ``str`` for a number, else as ``repr``).
    """

    def __init__(self, message: str | None = None, *, parameter: str | None = None,
                 expected: str | None = None, got: Any = _UNSET) -> None:
        if message is None:
            if parameter is None or expected is None:
                raise TypeError("ParameterError needs a message, or parameter and expected")
            message = f"{parameter} must be {expected}"
            if got is not _UNSET:
                number = isinstance(got, (int, float)) and not isinstance(got, bool)
                message += f", got {got if number else repr(got)}"
        super().__init__(message, parameter=parameter, expected=expected,
                         got=None if got is _UNSET else got)


class ModelLoadError(MitraSETIError, RuntimeError):
    """The classifier file cannot be trusted or used; the message says why and what to do
    (``mitraseti train`` rebuilds it). Field: ``path`` (str, the model file; None when
    unknown)."""

    def __init__(self, message: str, *, path: str | os.PathLike | None = None) -> None:
        super().__init__(message, path=None if path is None else os.fspath(path))
