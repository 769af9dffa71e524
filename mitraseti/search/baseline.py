"""The spectral baseline of a searched block, removed before the search.

Real coarse channels are not flat: the polyphase filterbank leaves a bandpass (a flat top,
a roll-off at both edges, a ripple), a DC spike sits at the centre channel, and broadband
interference adds power over kHz to MHz. ``flatten_block`` turns a ``(T, n)`` float32 block
into unit-noise, zero-baseline data *in place*, so a drift path's S/N is measured against
the noise where the signal is (the ``snr`` definition in docs/search.md):

1. **DC spike.** The coarse channel's centre column (and any neighbour within 2 channels
   that stands out by > 5 robust sigma) is replaced by zeros after whitening; ``dc_columns``
   says which. Coarse channels of power-of-two width always have their centre blanked
   (turboSETI's convention); others only when a spike is found there.
2. **Bandpass** (the *wide* baseline): medians of channel blocks, a running median over 33
   of them (blocks that stand out as excess power are masked and bridged), interpolated.
   It follows structure wider than ~30 x the blocks (the PFB shape), not broadband
   features. Power data are *divided* by it: the bandpass is a gain, it scales noise and
   signals alike, so dividing makes the noise uniform and keeps a signal's local S/N.
   Data that are not positive power (zero-mean or offset-free data) are *subtracted*.
3. **Fine baseline**: a running median over ~1 kHz (twice the 500 Hz broadband threshold)
   of the bandpass-corrected time-averaged spectrum. A median that wide ignores anything
   narrower than 500 Hz (tones, smeared drifting tones) and follows anything broader, so
   broadband features leave the searched data while narrowband signals on top of them
   stay. Away from structure it is a blocked approximation; where it departs from the
   bandpass it is computed exactly and *per spectrum*, so intermittent or drifting
   broadband interference is removed spectrum by spectrum.
4. **Local noise**: the robust std (values between the 5th and 95th percentiles, as
   turboSETI's ``comp_stats``) of the residual in channel blocks, smoothed; inside a
   broadband feature it scales with the total power (radiometer equation).
5. **Broadband features**: runs where the fine baseline exceeds the bandpass by > 5 sigma
   of its own noise over >= 500 Hz are reported once each (``features``), with their width,
   S/N (zero-drift boxcar over the run, same noise convention) and centroid drift.

On flat noise the result is the data minus its median divided by its noise, so S/N values
equal the plain global-statistics ones within the noise of the estimates (~1 %).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .broadband import (BROADBAND_HZ, BroadbandFeature, has_broad_power, measure_features,
                        runs, varies_in_time)
from .running_median import (block_medians, clipped_std, fill_nan, local_quadratic,
                             running_median, running_median_rows, sum_and_trimmed_mean,
                             to_channels, to_channels_at, unwhiten, whiten, window_median)

WIDE_BLOCKS_HALF = 16  # the bandpass fit spans 2 * 16 + 1 blocks
WIDE_HZ = 100e3        # ... of about this width in all (Hz)
DC_SIGMA = 5.0         # a DC neighbour is blanked when it stands out by this many sigma
DC_REACH = 2           # channels either side of the centre checked for the DC spike
EDGE_SHORT = 8         # channels either side: the local level that picks a one-sided median


@dataclass
class Flattening:
    """What ``flatten_block`` did: blanked DC columns, broadband features, whether the
    data were treated as power (divided) or not (subtracted), and the structured regions
    (column ranges) that got a per-spectrum baseline."""

    dc_columns: list[int] = field(default_factory=list)
    features: list[BroadbandFeature] = field(default_factory=list)
    power_like: bool = True
    regions: list[tuple[int, int]] = field(default_factory=list)
    spectrum: np.ndarray | None = None  # float32 time-summed spectrum of the result
    time_variable: list[tuple[int, int]] = field(default_factory=list)  # per-spectrum ones
    undo: "_Undo | None" = None  # what restore_block needs
    flat: bool = False  # the block was flat already: left as it was (DC spike bridged)


@dataclass
class _Undo:
    """float32 level and scale per column (None: not whitened), the raw columns of
    per-spectrum regions and of the DC spike: enough to give the caller its data back."""

    level: np.ndarray | None
    scale: np.ndarray | None
    regions: list = field(default_factory=list)
    dc: list = field(default_factory=list)


def restore_block(block: np.ndarray, info: Flattening) -> None:
    """Undo ``flatten_block`` in place (to float32 rounding, ~1e-7 relative; per-spectrum
    regions and DC columns exactly)."""
    undo = info.undo
    if undo is None:
        return
    if undo.level is not None:
        unwhiten(block, undo.level, undo.scale)
    for lo, hi, raw in undo.regions:
        block[:, lo:hi] = raw
    for c, raw in undo.dc:
        block[:, c] = raw


def fine_half_window(df_hz: float) -> int:
    """Half-width (channels) of the fine baseline median: >= 500 Hz, >= 16 channels."""
    return int(max(16, np.ceil(BROADBAND_HZ / max(df_hz, 1e-12))))


def _pow2_floor(x: float) -> int:
    return 1 << max(0, int(np.floor(np.log2(max(x, 1.0)))))


def _mad_sigma(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return 0.0
    return float(1.4826 * np.median(np.abs(x - np.median(x))))


def find_dc_columns(spectrum: np.ndarray, dc_column: int | None, always: bool) -> list[int]:
    """Columns of a DC spike around ``dc_column`` of a time-summed spectrum."""
    n = spectrum.shape[0]
    if dc_column is None or not 0 <= dc_column < n:
        return []
    ref_idx = np.r_[max(0, dc_column - 64):max(0, dc_column - DC_REACH),
                    min(n, dc_column + DC_REACH + 1):min(n, dc_column + 65)]
    cols = [dc_column] if always else []
    if ref_idx.size < 8:
        return cols
    ref = spectrum[ref_idx]
    med, sig = float(np.median(ref)), _mad_sigma(ref)
    for j in range(max(0, dc_column - DC_REACH), min(n, dc_column + DC_REACH + 1)):
        if j not in cols and sig > 0 and abs(spectrum[j] - med) > DC_SIGMA * sig:
            cols.append(j)
    # only the contiguous run through the centre (a tone two channels away is not DC)
    keep = {dc_column}
    for step in (-1, 1):
        j = dc_column + step
        while j in cols:
            keep.add(j)
            j += step
    return sorted(c for c in cols if c in keep and (always or dc_column in cols))


def flatten_block(block: np.ndarray, df_hz: float, *, dc_column: int | None = None,
                  always_blank_dc: bool = False) -> Flattening:
    """Remove the baseline of a C-contiguous float32 ``(T, n)`` block in place (see the
    module docstring); afterwards every pixel is in units of the local robust noise.
    ``df_hz``: channel width (Hz); ``dc_column``: block column of the coarse channel's
    centre (None when outside the block or not wanted)."""
    n_t, n = block.shape
    info = Flattening()
    # the mean without each channel's two brightest spectra: structure is looked for on
    # it, so a drifting tone (crossing a channel in a spectrum or two) is not structure
    spec, trimmed = sum_and_trimmed_mean(block)
    info.dc_columns = find_dc_columns(spec, dc_column, always_blank_dc)
    if info.dc_columns:  # bridge the spike for every estimate below
        _bridge(spec, info.dc_columns)
        _bridge(trimmed, info.dc_columns)
    if n < 64:
        info.spectrum = _whiten_global(block, spec, info)
        return info
    step = max(1, n // 32768)
    mean_s = spec[::step] / n_t  # the time-averaged spectrum, subsampled

    # 2. bandpass (wide baseline) from block means -> medians of those, excess masked
    half = fine_half_window(df_hz)
    # bandpass blocks: 33 of them span ~100 kHz, or 1/8 of the block when that is less
    # (the bandpass must follow a coarse channel's roll-off); features wider than about
    # half the span become part of the bandpass
    span = min(WIDE_HZ / df_hz, n / 8.0)
    wblock = int(max(16, _pow2_floor(span / (2 * WIDE_BLOCKS_HALF + 1))))
    fblock = int(min(_pow2_floor(half / 2), wblock))
    nfb = n // fblock
    fine_means = trimmed[:nfb * fblock].reshape(nfb, fblock).mean(axis=1)
    meds = block_medians(fine_means, wblock // fblock)
    wide_b = _masked_smooth(meds)
    # the trimmed mean sits a fixed fraction of the noise low: rescaled (locally, through
    # the bandpass) so the baseline is the median of the time-averaged spectrum (the S/N
    # convention)
    idx_s = np.arange(0, n, step)
    wide_s = to_channels_at(wide_b, wblock, idx_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = float(np.median(mean_s / wide_s))
    shift = float(np.median(mean_s - wide_s))
    power = bool(wide_b.min() > 0 and np.isfinite(ratio) and ratio > 0)
    if power:  # positive power well above its noise: divide; anything else: subtract
        noise_pix = _mad_sigma((mean_s - wide_s * ratio) * np.sqrt(n_t))
        power = bool(np.median(wide_s * ratio) > 0.5 * noise_pix)
    info.power_like = power
    unit = 1.0 if power else 0.0

    def to_mean_scale(x):
        return x * ratio if power else x + shift

    def gain_offset(idx):
        """(gain, offset) of the channels ``idx``: divide by the bandpass, or subtract it."""
        w = to_mean_scale(to_channels_at(wide_b, wblock, idx))
        return (w, np.zeros_like(w)) if power else (np.ones_like(w), w)

    fine_means = to_mean_scale(fine_means)

    # 3. structure: where a ~1 kHz running median (of block means) leaves the bandpass;
    # there the fine baseline is an exact running median, elsewhere the bandpass itself
    # (far smoother than any running median, whose noise adds up in wide boxcars)
    centres = np.minimum(np.arange(nfb) * fblock + fblock // 2, n - 1)
    g_c, o_c = gain_offset(centres)
    u_blocks = (fine_means - o_c) / g_c
    k_f = max(1, int(round(half / fblock)))
    approx = fill_nan(window_median(u_blocks, k_f))
    dev = approx - unit
    # its noise: the spread of dev, or (few blocks, much structure: that spread is the
    # structure's) the block means' noise from their differences, through the median
    sig_f = _mad_sigma(dev)
    if u_blocks.size > 2:
        from_diffs = 1.2533 * _mad_sigma(np.diff(u_blocks)) / np.sqrt(2 * (2 * k_f + 1))
        sig_f = min(sig_f, from_diffs) if from_diffs > 0 else sig_f
    flagged = np.abs(dev) > 4.0 * sig_f if sig_f > 0 else np.zeros(nfb, dtype=bool)
    regions = [(lo * fblock, min(n, hi * fblock)) for lo, hi in runs(flagged)]
    regions = _grown_runs_ranges(regions, half + fblock, n)
    info.regions = regions

    # 4. local noise of the residual, per pixel (relative for power data), on a subsample;
    # the fine baseline is exact (a running median) inside the structured regions and the
    # bandpass elsewhere, so full-length arrays are built only when the data change
    sblock = int(min(n, max(1024, _pow2_floor(n / 16))))
    nb = n // sblock
    sub = max(1, sblock // 8192)
    cut = np.arange(0, nb * sblock, sub)  # the residual on the subsample measured
    g_cut, o_cut = gain_offset(cut)
    fine_cut = np.full(cut.size, unit)
    region_fine = []  # (lo, hi, a, b, gain[a:b], offset[a:b], fine[lo:hi]) per region
    for lo, hi in regions:
        a, b = max(0, lo - half), min(n, hi + half)
        g_ab, o_ab = gain_offset(np.arange(a, b))
        u_trim = (to_mean_scale(trimmed[a:b]) - o_ab) / g_ab
        fine_r = running_median(u_trim, half, EDGE_SHORT)[lo - a:hi - a]
        region_fine.append((lo, hi, a, b, g_ab, o_ab, fine_r))
        i0, i1 = np.searchsorted(cut, [lo, hi])
        fine_cut[i0:i1] = fine_r[cut[i0:i1] - lo]
    local_cut = np.maximum(fine_cut, 0.05) if power else np.ones(cut.size)
    rel = ((spec[cut] / n_t - o_cut) / g_cut - fine_cut) / local_cut
    block_sig = clipped_std(rel.reshape(nb, -1), axis=1)
    block_sig = fill_nan(np.where(block_sig > 0, block_sig, np.nan))
    block_sig = fill_nan(window_median(block_sig, 2)) * np.sqrt(n_t)
    if not np.all(block_sig > 0):
        block_sig = np.full(nb, max(float(np.nanmax(block_sig, initial=0.0)), 1e-30))

    # 5. a block that is flat already (no structure, a bandpass and noise level constant
    # within 1 % and 3 %) is left as it is: one noise figure is then the local one, and
    # the two passes over the data are saved; only the DC spike is bridged
    flat_already = (_nearly_constant(to_mean_scale(wide_b), 0.01)
                    and _nearly_constant(block_sig, 0.03))
    if not regions and flat_already:
        return _left_flat(block, spec, info)

    # 4b. what each structured region holds, judged spectrum by spectrum: nothing broad
    # (the leak of a strong narrowband signal: the bandpass stays the baseline), steady
    # broadband power (the time-averaged fine baseline), or broadband power that comes,
    # goes or moves (a per-spectrum fine baseline)
    variable = []
    broad = []  # (lo, hi, fine[lo:hi]) of the regions holding broadband power
    for lo, hi, a, b, g_ab, o_ab, fine_r in region_fine:
        u_t = (block[:, a:b] - o_ab) / g_ab
        sigma_r = to_channels_at(block_sig, sblock, np.arange(lo, hi))
        if not has_broad_power((u_t[:, lo - a:hi - a] - unit) / sigma_r, half):
            continue
        broad.append((lo, hi, fine_r))
        local_r = np.maximum(fine_r, 0.05) if power else 1.0
        if varies_in_time((u_t[:, lo - a:hi - a] - fine_r) / (sigma_r * local_r), half):
            variable.append((lo, hi, a, b, u_t))
    broad_regions = [(lo, hi) for lo, hi, _ in broad]
    info.regions = broad_regions
    info.time_variable = [(lo, hi) for lo, hi, *_ in variable]
    if not broad_regions and flat_already:  # only the leak of strong narrowband signals
        return _left_flat(block, spec, info)
    wide = to_mean_scale(to_channels(wide_b, wblock, n))
    gain = wide if power else np.ones(n)
    offset = np.zeros(n) if power else wide
    fine = np.full(n, unit)
    local = np.ones(n)
    for lo, hi, fine_r in broad:
        fine[lo:hi] = fine_r
        if power:
            local[lo:hi] = np.maximum(fine_r, 0.05)
    sigma = to_channels(block_sig, sblock, n)

    # 5. broadband features (reported once each)
    u = (spec / n_t - offset) / gain if broad_regions else None
    info.features = measure_features(block, broad_regions, u, fine, unit, gain, offset,
                                     sigma, half, df_hz, info.power_like)

    # 7. whiten in place: x -> (x - level) / noise; regions get per-spectrum levels
    pix_ratio, pix_shift = _pixel_median_bias(block, regions, offset, gain)
    level = offset + gain * fine
    scale = gain * sigma * local
    dc_raw = [(c, block[:, c].copy()) for c in info.dc_columns]
    whiten(block, level, scale)
    info.undo = _Undo(level.astype(np.float32), scale.astype(np.float32), [], dc_raw)
    zspec = ((spec - n_t * level) / scale).astype(np.float32)
    for lo, hi, a, b, u_t in variable:
        info.undo.regions.append(
            (lo, hi, (u_t[:, lo - a:hi - a] * gain[lo:hi] + offset[lo:hi]).astype(np.float32)))
        # a pixel's median sits below its mean (chi-square noise): calibrated as the mean
        fine_t = running_median_rows(u_t, half, EDGE_SHORT)[:, lo - a:hi - a]
        fine_t = fine_t * pix_ratio if info.power_like else fine_t + pix_shift
        u_t = u_t[:, lo - a:hi - a]
        den = sigma[lo:hi] * (np.maximum(fine_t, 0.05) if info.power_like else 1.0)
        block[:, lo:hi] = ((u_t - fine_t) / den).astype(np.float32)
        zspec[lo:hi] = block[:, lo:hi].sum(axis=0)
    for c in info.dc_columns:
        block[:, c] = 0.0
        zspec[c] = 0.0
    info.spectrum = zspec
    return info


def _pixel_median_bias(block, regions, offset, gain, n_cols=4096) -> tuple[float, float]:
    """(mean / median, mean - median) of single bandpass-corrected pixels, from about
    ``n_cols`` evenly spaced columns outside the structured regions (before whitening):
    what turns a per-spectrum running median into a running mean (chi-square noise has
    its median below its mean)."""
    n = block.shape[1]
    cols = np.arange(0, n, max(1, n // n_cols))
    for lo, hi in regions:
        cols = cols[(cols < lo) | (cols >= hi)]
    if cols.size < 16:
        return 1.0, 0.0
    u = (block[:, cols] - offset[cols]) / gain[cols]
    med, mean = float(np.median(u)), float(np.mean(u))
    ratio = mean / med if med > 0 else 1.0
    return ratio, mean - med


def _masked_smooth(meds: np.ndarray) -> np.ndarray:
    """Local-quadratic smooth of block medians, blocks of excess power (> 4 sigma above
    the fit: broadband features) masked and bridged, iterated to convergence."""
    mask = np.zeros(meds.size, dtype=bool)
    smooth = meds
    for _ in range(5):
        smooth = fill_nan(local_quadratic(meds, mask, WIDE_BLOCKS_HALF))
        resid = meds - smooth
        sig = _mad_sigma(resid[~mask]) if (~mask).any() else 0.0
        new = resid > 4.0 * sig if sig > 0 else np.zeros_like(mask)
        if np.array_equal(new, mask):
            break
        mask = new
    return smooth


def _grown_runs_ranges(runs: list[tuple[int, int]], reach: int, n: int
                       ) -> list[tuple[int, int]]:
    """Ranges grown by ``reach`` on both sides (within 0..n), overlapping ones merged."""
    out: list[tuple[int, int]] = []
    for lo, hi in runs:
        lo, hi = max(0, lo - reach), min(n, hi + reach)
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _left_flat(block: np.ndarray, spec: np.ndarray, info: Flattening) -> Flattening:
    """A block flat already: left as it is, the DC spike bridged (and given back later)."""
    info.flat = True
    info.undo = _Undo(None, None, [], [(c, block[:, c].copy()) for c in info.dc_columns])
    _bridge_columns(block, info.dc_columns)
    info.spectrum = spec.astype(np.float32)
    return info


def _nearly_constant(x: np.ndarray, tolerance: float) -> bool:
    """max / min - 1 of a positive array below ``tolerance`` (False if not positive)."""
    lo, hi = float(np.min(x)), float(np.max(x))
    return lo > 0 and hi / lo - 1.0 < tolerance


def _bridge_columns(block: np.ndarray, cols: list[int]) -> None:
    """The contiguous columns ``cols`` of a (T, n) block set, in every spectrum, to the
    mean of the columns just outside them."""
    if not cols:
        return
    n = block.shape[1]
    lo, hi = cols[0] - 1, cols[-1] + 1
    left = block[:, lo] if lo >= 0 else block[:, min(hi, n - 1)]
    right = block[:, hi] if hi < n else left
    fill = 0.5 * (left + right)
    for c in cols:
        block[:, c] = fill


def _bridge(x: np.ndarray, cols: list[int]) -> None:
    """The contiguous entries ``cols`` of ``x`` set, in place, to the mean of the values
    just outside them."""
    lo, hi = cols[0] - 1, cols[-1] + 1
    left = x[lo] if lo >= 0 else x[min(hi, x.size - 1)]
    right = x[hi] if hi < x.size else left
    x[cols] = 0.5 * (left + right)


def _whiten_global(block: np.ndarray, spec: np.ndarray, info: Flattening) -> np.ndarray:
    """Tiny blocks: subtract the median, divide by the clipped std (no local estimates)."""
    n_t, n = block.shape
    med = float(np.median(spec)) / n_t
    sig = float(clipped_std(spec)) if spec.size > 1 else 0.0
    level = np.full(n, med)
    scale = np.full(n, sig if sig > 0 else 1.0)
    dc_raw = [(c, block[:, c].copy()) for c in info.dc_columns]
    whiten(block, level, scale)
    info.undo = _Undo(level.astype(np.float32), scale.astype(np.float32), [], dc_raw)
    for c in info.dc_columns:
        block[:, c] = 0.0
    return block.sum(axis=0)
