"""Sub-byte sample packing in SIGPROC order (first sample in the LOW bits of each byte).

For nbits = 2 the byte ``0b_dd_cc_bb_aa`` holds samples a, b, c, d in that order. The
samples of a file form one continuous bit stream (rows need not start on a byte boundary).
"""
from __future__ import annotations

import numpy as np


def samples_per_byte(nbits: int) -> int:
    if nbits not in (1, 2, 4):
        raise ValueError(f"sub-byte packing needs nbits 1, 2 or 4, got {nbits}")
    return 8 // nbits


def unpack(raw: np.ndarray, nbits: int, skip: int = 0, count: int | None = None) -> np.ndarray:
    """Unpack uint8 bytes ``raw`` into uint8 samples (values 0 .. 2**nbits - 1).

    ``skip``: samples to drop at the start (sample offset inside the first byte);
    ``count``: samples to return (default: all remaining).
    """
    k = samples_per_byte(nbits)
    shifts = np.arange(0, 8, nbits, dtype=np.uint8)
    mask = np.uint8((1 << nbits) - 1)
    samples = ((raw[:, None] >> shifts[None, :]) & mask).reshape(-1)
    end = len(raw) * k if count is None else skip + count
    if end > len(samples):
        raise ValueError(f"asked for {end} samples, {len(raw)} bytes hold {len(samples)}")
    return samples[skip:end]


def pack(samples: np.ndarray, nbits: int) -> tuple[bytes, np.ndarray]:
    """Pack uint8 samples; returns (bytes for the whole bytes, leftover samples that do not
    fill a byte yet). Call ``pack_final`` on the leftover at the end of a stream."""
    k = samples_per_byte(nbits)
    flat = np.ascontiguousarray(samples, dtype=np.uint8).reshape(-1)
    n_full = (len(flat) // k) * k
    groups = flat[:n_full].reshape(-1, k).astype(np.uint8)
    shifts = np.arange(0, 8, nbits, dtype=np.uint8)
    packed = np.bitwise_or.reduce(groups << shifts[None, :], axis=1).astype(np.uint8)
    return packed.tobytes(), flat[n_full:].copy()


def pack_final(leftover: np.ndarray, nbits: int) -> bytes:
    """Pack the last partial byte of a stream (padded with zero bits)."""
    if len(leftover) == 0:
        return b""
    k = samples_per_byte(nbits)
    padded = np.zeros(k, dtype=np.uint8)
    padded[: len(leftover)] = leftover
    return pack(padded, nbits)[0]
