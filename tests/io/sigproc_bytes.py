"""Hand-assembled SIGPROC bytes for the io tests (independent of mitraseti's writer)."""
import struct


def sstr(text: str) -> bytes:
    raw = text.encode()
    return struct.pack("<i", len(raw)) + raw


def header_bytes(items, start=True, end=True) -> bytes:
    """items: (keyword, struct format or 'str', value); framed by HEADER_START/END."""
    out = [sstr("HEADER_START")] if start else []
    for key, fmt, value in items:
        out.append(sstr(key))
        out.append(sstr(value) if fmt == "str" else struct.pack(fmt, value))
    if end:
        out.append(sstr("HEADER_END"))
    return b"".join(out)


def basic_items(nchans=4, nbits=32, tsamp=1.0, foff=-1.0, nifs=1):
    return [("source_name", "str", "test"), ("nchans", "<i", nchans), ("nbits", "<i", nbits),
            ("nifs", "<i", nifs), ("fch1", "<d", 1400.0), ("foff", "<d", foff),
            ("tsamp", "<d", tsamp), ("tstart", "<d", 60000.0)]
