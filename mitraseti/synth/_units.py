"""Normalise parameters given as plain floats or astropy Quantities, once, at construction."""
from __future__ import annotations

from typing import Any


def to_float(value: Any, unit: str, name: str) -> float:
    """Return ``value`` as a float in ``unit`` ("Hz", "Hz/s", "Hz/s2", "s").

    Plain numbers are taken to be in ``unit`` already; astropy Quantities are converted
    (a Quantity with incompatible units raises ValueError naming the parameter).
    """
    if hasattr(value, "unit") and hasattr(value, "to"):
        import astropy.units as u  # lazy: astropy is slow to import

        target = {"Hz": u.Hz, "Hz/s": u.Hz / u.s, "Hz/s2": u.Hz / u.s ** 2, "s": u.s}[unit]
        try:
            return float(value.to(target).value)
        except u.UnitConversionError as exc:
            raise ValueError(f"{name}: expected a quantity in {unit}, got {value!r}") from exc
    try:
        return float(value)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: expected a number in {unit}, got {value!r}") from exc


def to_optional_float(value: Any, unit: str, name: str) -> float | None:
    """Like :func:`to_float` but keeps ``None``."""
    return None if value is None else to_float(value, unit, name)
