"""SIGPROC filterbank header: parse and format the keyword/value block.

A SIGPROC header is a sequence of ``<int32 length><keyword>`` strings, each followed by a
binary value whose type depends on the keyword, framed by ``HEADER_START`` ... ``HEADER_END``.
All numbers are little-endian. Keywords with an `ObservationHeader` field map onto it;
the others (``period``, ``refdm``, ``nsamples`` ...) are kept in ``header.extra`` so that
writing the header back is lossless. A ``FREQUENCY_START`` ... ``FREQUENCY_END`` block of
``fchannel`` values is accepted when the channels are evenly spaced (kept in
``extra["fchannel"]``); uneven channel tables are rejected.
"""
from __future__ import annotations

import math
import struct
from typing import Any, BinaryIO

from .errors import ObservationFormatError
from .header import ObservationHeader

# keyword -> struct format ("str" for length-prefixed strings). Ints are signed (the I-LOFAR
# files store telescope_id = -1).
KEYWORD_TYPES: dict[str, str] = {
    "source_name": "str", "rawdatafile": "str",
    "telescope_id": "<i", "machine_id": "<i", "data_type": "<i", "nchans": "<i",
    "nbits": "<i", "nifs": "<i", "nbeams": "<i", "ibeam": "<i", "barycentric": "<i",
    "pulsarcentric": "<i", "nsamples": "<i", "nbins": "<i",
    "npuls": "<q",
    "signed": "<b",
    "fch1": "<d", "foff": "<d", "tstart": "<d", "tsamp": "<d", "src_raj": "<d",
    "src_dej": "<d", "az_start": "<d", "za_start": "<d", "refdm": "<d", "period": "<d",
    "fchannel": "<d",
}
FRAME_KEYWORDS = ("HEADER_START", "HEADER_END", "FREQUENCY_START", "FREQUENCY_END")
# ObservationHeader fields stored in a SIGPROC header (everything except n_spectra, nfpc, extra)
FIELD_KEYWORDS = [k for k in ObservationHeader.field_names()
                  if k in KEYWORD_TYPES]
REQUIRED = ("nchans", "nbits", "fch1", "foff", "tsamp")
MAX_KEYWORD_LEN = 80          # sigproc's own limit for keyword strings
MAX_STRING_LEN = 4096         # generous limit for string values (source_name, rawdatafile)
MAX_HEADER_BYTES = 64 << 20   # a FREQUENCY block of 2^20 channels is ~20 MiB


def _read_exact(f: BinaryIO, n: int, path, what: str) -> bytes:
    b = f.read(n)
    if len(b) != n:
        raise ObservationFormatError(
            path, f"SIGPROC header truncated while reading {what} "
                  f"(needed {n} bytes at offset {f.tell() - len(b)}, got {len(b)})")
    return b


def _read_string(f: BinaryIO, path, max_len: int, what: str, min_len: int = 0) -> str:
    (n,) = struct.unpack("<i", _read_exact(f, 4, path, f"the length of {what}"))
    if n < min_len or n > max_len:
        raise ObservationFormatError(
            path, f"SIGPROC header: {what} has length {n} at offset {f.tell() - 4}, "
                  f"expected {min_len}..{max_len} (not a SIGPROC file, or a corrupted header)")
    return _read_exact(f, n, path, what).decode("utf-8", errors="replace")


def read_keywords(f: BinaryIO, path) -> tuple[dict[str, Any], int]:
    """Parse the header at the start of ``f``. Returns (keyword -> value, header length in
    bytes). ``fchannel`` values are collected in a list. Raises ObservationFormatError."""
    first = _read_string(f, path, MAX_KEYWORD_LEN, "the first keyword", 1)
    if first != "HEADER_START":
        raise ObservationFormatError(
            path, f"missing HEADER_START: file starts with {first[:40]!r}, expected a SIGPROC "
                  "filterbank header")
    values: dict[str, Any] = {}
    in_freq_block = False
    while True:
        if f.tell() > MAX_HEADER_BYTES:
            raise ObservationFormatError(
                path, f"no HEADER_END within the first {MAX_HEADER_BYTES} bytes")
        key = _read_string(f, path, MAX_KEYWORD_LEN, "a keyword", 1)
        if key == "HEADER_END":
            break
        if key == "HEADER_START":
            raise ObservationFormatError(path, "HEADER_START repeated inside the header")
        if key == "FREQUENCY_START":
            in_freq_block = True
            values.setdefault("fchannel", [])
            continue
        if key == "FREQUENCY_END":
            in_freq_block = False
            continue
        kind = KEYWORD_TYPES.get(key)
        if kind is None:
            raise ObservationFormatError(
                path, f"unknown SIGPROC header keyword {key[:40]!r} at offset "
                      f"{f.tell() - len(key.encode('utf-8', 'replace')) - 4}")
        if kind == "str":
            values[key] = _read_string(f, path, MAX_STRING_LEN, f"the value of {key}")
            continue
        size = struct.calcsize(kind)
        (v,) = struct.unpack(kind, _read_exact(f, size, path, f"the value of {key}"))
        if key == "fchannel":
            if not in_freq_block:
                raise ObservationFormatError(path, "fchannel outside FREQUENCY_START/END")
            values.setdefault("fchannel", []).append(float(v))
        elif key in values:
            raise ObservationFormatError(path, f"SIGPROC header keyword {key!r} appears twice")
        else:
            values[key] = v
    if in_freq_block:
        raise ObservationFormatError(path, "FREQUENCY_START without FREQUENCY_END")
    return values, f.tell()


def _apply_frequency_table(values: dict[str, Any], path) -> None:
    """Derive fch1/foff/nchans from an evenly spaced fchannel table (in place)."""
    table = values.get("fchannel")
    if table is None:
        return
    if len(table) < 1:
        raise ObservationFormatError(path, "FREQUENCY_START block holds no fchannel values")
    n = len(table)
    if "nchans" in values and values["nchans"] != n:
        raise ObservationFormatError(
            path, f"nchans = {values['nchans']} but the FREQUENCY block lists {n} channels")
    step = (table[-1] - table[0]) / (n - 1) if n > 1 else values.get("foff", 0.0)
    for i, fr in enumerate(table):
        if not math.isfinite(fr) or abs(fr - (table[0] + i * step)) > 1e-6 * abs(step or 1.0):
            raise ObservationFormatError(
                path, "unevenly spaced channel frequencies (FREQUENCY_START block) are not "
                      f"supported: channel {i} is at {fr} MHz")
    values.setdefault("nchans", n)
    values.setdefault("fch1", table[0])
    values.setdefault("foff", step)


def header_from_keywords(values: dict[str, Any], n_spectra: int, path) -> ObservationHeader:
    """Build an ObservationHeader from parsed keywords (checks required keywords)."""
    values = dict(values)
    _apply_frequency_table(values, path)
    missing = [k for k in REQUIRED if k not in values]
    if missing:
        raise ObservationFormatError(
            path, f"SIGPROC header lacks required keyword(s) {', '.join(missing)}")
    kwargs = {k: values.pop(k) for k in FIELD_KEYWORDS if k in values}
    return ObservationHeader(n_spectra=n_spectra, extra=values, **kwargs)


def _pack_string(s: str) -> bytes:
    b = s.encode("utf-8")
    return struct.pack("<i", len(b)) + b


def format_header(header: ObservationHeader, n_spectra: int | None = None) -> bytes:
    """The SIGPROC header bytes for ``header`` (HEADER_START ... HEADER_END).

    Fields are written in a fixed order, then ``header.extra`` keywords that SIGPROC knows
    (others are skipped: they cannot be expressed in SIGPROC). ``nsamples`` in extra is
    replaced by ``n_spectra`` when that is given.
    """
    out = [_pack_string("HEADER_START")]

    def put(key: str, value: Any) -> None:
        kind = KEYWORD_TYPES[key]
        if kind == "str":
            if value:  # sigproc rejects empty strings; an absent key reads back as ""
                out.append(_pack_string(key) + _pack_string(str(value)))
            return
        v = float(value) if kind == "<d" else int(value)
        out.append(_pack_string(key) + struct.pack(kind, v))

    for key in FIELD_KEYWORDS:
        put(key, getattr(header, key))
    for key, value in header.extra.items():
        if key not in KEYWORD_TYPES or key in FIELD_KEYWORDS:
            continue
        if key == "fchannel":
            out.append(_pack_string("FREQUENCY_START"))
            for fr in value:
                put("fchannel", fr)
            out.append(_pack_string("FREQUENCY_END"))
        elif key == "nsamples" and n_spectra is not None:
            put(key, n_spectra)
        else:
            put(key, value)
    out.append(_pack_string("HEADER_END"))
    return b"".join(out)
