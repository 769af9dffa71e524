"""Features measured from the data around each hit (vectorised over hits).

For every hit we cut a de-drifted stamp out of the coarse channel: rows are spectra (binned
to at most ``MAX_ROWS``), columns are ``W`` channels centred on the hit's straight drift
path, in units of the noise sigma. ``W`` covers about 1.1 kHz (128..1024 channels) so a
500 Hz wide signal always fits. From the stamp we measure physical, mostly scale-free
numbers (widths in Hz and channels, drift in units of r, time behaviour as fractions):

bandwidth_hz, bandwidth_ch, bandwidth20_ch  widths at 50 % / 20 % of the peak (Hz, channels;
                                            wide faint signals measured after smoothing)
drift_hz_s, drift_r, smear_ch               drift (Hz/s; units of r; channels per spectrum)
track_dev_ch, track_dev_rel                 max |deviation| of the per-spectrum peak from
                                            the best straight line (channels; / bandwidth)
curv_dev_ch, curv_gain, curv_dev_rel        best quadratic bend (max deviation, channels),
                                            its power gain over the straight line, / width
duty_off, n_on_intervals                    fraction of spectra below 20 % of the peak power;
                                            number of separate runs at or above it
strong_fraction, top2_fraction              fraction of (binned) spectra above 50 % of peak;
                                            share of the path power in the 2 best spectra
pixel_fraction                              brightest pixel / path sum (S/N from one pixel)
kurtosis_t, snr_per_spectrum, snr_stamp     time-profile kurtosis; mean and total S/N
snr_log10, edge_dist_ch                     log10 hit S/N; distance of the path to the edge,
                                            clipped at EDGE_CLIP channels (farther is all
                                            the same, whatever the block size; the DC bin
                                            is a rule in classify.py, not a feature: a
                                            block need not be a coarse channel)
frac_outside                                fraction of the path that leaves the data block
contrast_snr_8, contrast_snr_24,            S/N of the profile peak above the median of the
contrast_snr_64                             profile 3-8, 8-24, 24-64 channels either side
                                            (noise: the MAD of those channels): a narrow
                                            signal stands out at every scale, also on a
                                            bandpass hump or beside broadband interference;
                                            a broadband signal at none of the smaller ones
"""
from __future__ import annotations

import numpy as np

from ..order_stats import median_float32

MAX_ROWS = 64
SMOOTH = 16        # channels, boxcar for the width of wide faint signals
TRACK_HALF = 128   # channels either side of the path searched by the peak track
EDGE_CLIP = 64     # channels: edge distances beyond this carry no information
FEATURE_NAMES = [
    "bandwidth_hz", "bandwidth_ch", "bandwidth20_ch", "drift_hz_s", "drift_r", "smear_ch",
    "track_dev_ch", "track_dev_rel", "curv_dev_ch", "curv_gain", "curv_dev_rel",
    "duty_off", "n_on_intervals", "strong_fraction", "top2_fraction", "pixel_fraction",
    "kurtosis_t", "snr_per_spectrum", "snr_stamp", "snr_log10", "edge_dist_ch",
    "frac_outside", "contrast_snr_8", "contrast_snr_24", "contrast_snr_64",
]
CONTRAST_RINGS = ((3, 8), (8, 24), (24, 64))  # channels either side of the peak
# Curvature grid: maximum deviation (channels) of a quadratic path from its best line.
CURV_GRID = np.array([0, -2, 2, -4, 4, -6, 6, -9, 9, -13, 13, -18, 18, -25, 25, -35, 35,
                      -50, 50, -70, 70, -100, 100], dtype=float)


def window_channels(df_hz: float) -> int:
    """Stamp width in channels: a power of two covering ~1.1 kHz, clipped to 128..1024."""
    w = 2 ** int(np.ceil(np.log2(max(1100.0 / max(df_hz, 1e-9), 1.0))))
    return int(np.clip(w, 128, 1024))


class NormalisedBlock:
    """A (rows, channels) block in noise-sigma units, normalised only where it is read:
    each spectrum's median removed, then divided by one robust sigma (1.4826 MAD of a
    ~200 000-pixel sample). Hits read a few stamps of a coarse channel, so the block is
    never copied whole."""

    def __init__(self, data: np.ndarray, base: np.ndarray, sigma: float):
        self.data = data    # float32 (rows, channels)
        self.base = base    # float32 (rows,): each spectrum's median
        self.sigma = sigma  # noise sigma, data units
        self.shape = data.shape

    def take(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """float32 pixels ``[rows, cols]`` (broadcast index arrays) in sigma units."""
        return ((self.data[rows, cols] - self.base[rows]) / self.sigma).astype(np.float32)


def normalise_block(data: np.ndarray, max_rows: int = MAX_ROWS
                    ) -> tuple[NormalisedBlock, int]:
    """Bin spectra to <= max_rows and describe the block in noise units (see
    :class:`NormalisedBlock`). Returns (normalised block, bin factor)."""
    a = np.asarray(data, dtype=np.float32)
    if a.ndim != 2:
        raise ValueError(f"data must be (n_spectra, n_channels), got shape {a.shape}")
    factor = max(1, int(np.ceil(a.shape[0] / max_rows)))
    if factor > 1:
        rows = a.shape[0] // factor
        a = a[: rows * factor].reshape(rows, factor, a.shape[1]).mean(axis=1)
    base = np.array([median_float32(row) for row in a], dtype=np.float32)
    step = max(1, a.size // 200_000)
    idx = np.arange(0, a.size, step)
    sample = a.ravel()[idx] - base[idx // a.shape[1]]
    sigma = 1.4826 * float(np.median(np.abs(sample - np.median(sample))))
    if not np.isfinite(sigma) or sigma <= 0:
        sigma = float(np.std(sample)) or 1.0
    return NormalisedBlock(a, base, sigma), factor


def _run_extent(above: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Length of the run of True containing column ``centre`` in each row of ``above``."""
    n, w = above.shape
    idx = np.broadcast_to(np.arange(w), (n, w))
    left_false = np.maximum.accumulate(np.where(~above, idx, -1), axis=1)
    right_false = np.minimum.accumulate(np.where(~above, idx, w)[:, ::-1], axis=1)[:, ::-1]
    r = np.arange(n)
    lo, hi = left_false[r, centre], right_false[r, centre]
    return np.where(above[r, centre], hi - lo - 1, 0)


def _count_runs(on: np.ndarray) -> np.ndarray:
    """Number of separate runs of True along axis 1."""
    starts = on[:, 1:] & ~on[:, :-1]
    return starts.sum(axis=1) + on[:, 0]


def _smoothed_width(st, rows_t, w, groups=4):
    """Max over time groups of the half-peak width (channels) of the boxcar-smoothed profile;
    groups whose smoothed peak is below 5 noise sigma count as 0."""
    n = st.shape[0]
    g = min(groups, rows_t)
    per = rows_t // g
    gp = st[:, : g * per].reshape(n, g, per, w).mean(axis=2).reshape(n * g, w)
    cs = np.cumsum(np.pad(gp, ((0, 0), (SMOOTH // 2 + 1, SMOOTH // 2 - 1))), axis=1)
    sm = (cs[:, SMOOTH:] - cs[:, :-SMOOTH]) / SMOOTH
    h = w // 2
    lim = min(h, TRACK_HALF)
    c = sm[:, h - lim: h + lim].argmax(axis=1) + (h - lim)
    peak = sm[np.arange(n * g), c]
    width = _run_extent(sm >= 0.5 * np.maximum(peak, 1e-6)[:, None], c)
    noise = 1.0 / np.sqrt(per * SMOOTH)
    width = np.where(peak > 5 * noise, width, 0).reshape(n, g)
    return width.max(axis=1)


def _contrast(prof, valid_col, c):
    """{contrast_snr_<outer>: S/N of prof[c] above the median of each ring of
    ``CONTRAST_RINGS``, noise from the ring's MAD} (0 where the ring is outside)."""
    n, w = prof.shape
    r = np.arange(n)
    out = {}
    for inner, outer in CONTRAST_RINGS:
        offs = np.r_[-outer:-inner + 1, inner:outer + 1]
        idx = np.clip(c[:, None] + offs[None, :], 0, w - 1)
        ring = np.where(valid_col[r[:, None], idx], prof[r[:, None], idx], np.nan)
        ok = np.isfinite(ring).sum(axis=1) >= 4
        val = np.zeros(n)
        if ok.any():
            med = np.nanmedian(ring[ok], axis=1)
            mad = 1.4826 * np.nanmedian(np.abs(ring[ok] - med[:, None]), axis=1)
            val[ok] = (prof[r[ok], c[ok]] - med) / np.maximum(mad, 1e-6)
        out[f"contrast_snr_{outer}"] = np.clip(val, -1e3, 1e3)
    return out


def _chunk_features(z, rows_t, x0, dch, w):
    """Features for one chunk of hits; x0 (n,) start column, dch (n,) channels per row."""
    n = x0.shape[0]
    t = np.arange(rows_t, dtype=float)
    h = w // 2
    centre_path = np.rint(x0[:, None] + dch[:, None] * t[None, :]).astype(np.int64)  # n,T
    cols = centre_path[:, :, None] + np.arange(-h, h)[None, None, :]                  # n,T,W
    valid = (cols >= 0) & (cols < z.shape[1])
    st = z.take(np.arange(rows_t)[None, :, None], np.clip(cols, 0, z.shape[1] - 1))
    st = np.where(valid, st, 0.0).astype(np.float32)
    frac_out = 1.0 - valid[:, :, h].mean(axis=1)

    # frequency profile (time average), peak near the centre, widths
    prof = st.mean(axis=1)
    near = prof[:, h - 3: h + 4]
    c = h - 3 + near.argmax(axis=1)
    r = np.arange(n)
    peak = np.maximum(prof[r, c], 1e-6)
    bw50 = np.maximum(_run_extent(prof >= 0.5 * peak[:, None], c), 1)
    hw = np.clip(bw50 // 2, 0, h - 1)

    # time profile over the occupied band
    k = np.arange(w)[None, :]
    band = (np.abs(k - c[:, None]) <= hw[:, None]).astype(np.float32)       # n,W
    p_t = np.einsum("ntw,nw->nt", st, band)                                 # n,T
    nb = band.sum(axis=1)
    p_max = np.maximum(p_t.max(axis=1), 1e-6)
    on = p_t >= 0.2 * p_max[:, None]
    duty_off = 1.0 - on.mean(axis=1)
    n_runs = _count_runs(on)
    strong = p_t >= 0.5 * p_max[:, None]
    pos_sum = np.clip(p_t, 0, None).sum(axis=1) + 1e-6
    top2 = np.sort(np.clip(p_t, 0, None), axis=1)[:, -2:].sum(axis=1) / pos_sum
    pix = np.where(band[:, None, :] > 0, st, -np.inf).max(axis=(1, 2))
    pixel_fraction = np.clip(pix / pos_sum, 0, 1)
    mu = p_t.mean(axis=1, keepdims=True)
    var = ((p_t - mu) ** 2).mean(axis=1) + 1e-9
    kurt = ((p_t - mu) ** 4).mean(axis=1) / var ** 2
    snr_row = p_t / np.sqrt(nb)[:, None]
    snr_stamp = p_t.sum(axis=1) / np.sqrt(nb * rows_t)

    # width at 20 % from the on-spectra average
    prof_on = (st * on[:, :, None]).sum(axis=1) / np.maximum(on.sum(axis=1), 1)[:, None]
    peak_on = np.maximum(prof_on[r, c], 1e-6)
    bw20 = np.maximum(_run_extent(prof_on >= 0.2 * peak_on[:, None], c), 1)
    bw50_on = np.maximum(_run_extent(prof_on >= 0.5 * peak_on[:, None], c), 1)
    bw50 = np.maximum(bw50, bw50_on)
    # wide, faint signals: width of the SMOOTH-channel boxcar-smoothed profile of each
    # quarter of the observation, around that quarter's own peak ("at any one time")
    bw_sm = _smoothed_width(st, rows_t, w)
    wide = bw_sm > 1.5 * SMOOTH
    bw50 = np.where(wide, np.maximum(bw50, bw_sm), bw50)

    # per-spectrum peak track vs best straight line (on spectra with per-row S/N > 3)
    lim = min(h, TRACK_HALF)
    core = st[:, :, h - lim: h + lim]
    pos = core.argmax(axis=2).astype(float) + (h - lim)
    wt = (on & (core.max(axis=2) > 4.5)).astype(float)
    sw = wt.sum(axis=1)
    tm = (wt * t).sum(axis=1) / np.maximum(sw, 1)
    pm = (wt * pos).sum(axis=1) / np.maximum(sw, 1)
    cov = (wt * (t - tm[:, None]) * (pos - pm[:, None])).sum(axis=1)
    vt = (wt * (t - tm[:, None]) ** 2).sum(axis=1)
    slope = np.where(vt > 0, cov / np.maximum(vt, 1e-9), 0.0)
    resid = np.abs(pos - (pm[:, None] + slope[:, None] * (t - tm[:, None])))
    track_dev = np.where(sw >= 3, np.where(wt > 0, resid, 0).max(axis=1), 0.0)

    # quadratic bend search: score of a band following offset dev * 6 (u^2 - u + 1/6)
    u = t / max(rows_t - 1, 1)
    shape = 6.0 * (u * u - u + 1.0 / 6.0)
    scores = np.empty((n, CURV_GRID.size), dtype=np.float32)
    hw_c = np.minimum(hw, 8)[:, None]
    lim = min(h, int(np.abs(CURV_GRID).max()) + 12)                   # columns needed
    cs = np.concatenate([np.zeros((n, rows_t, 1), np.float32),
                         np.cumsum(st[:, :, h - lim: h + lim], axis=2, dtype=np.float32)],
                        axis=2)                                            # n,T,2 lim+1
    for j, dev in enumerate(CURV_GRID):
        off = np.rint(dev * shape).astype(np.int64)                        # T
        ctr = c[:, None] - (h - lim) + off[None, :]                        # n,T
        lo = np.clip(ctr - hw_c, 0, 2 * lim)[:, :, None]
        hi = np.clip(ctr + hw_c + 1, 0, 2 * lim)[:, :, None]
        band_sum = np.take_along_axis(cs, hi, axis=2) - np.take_along_axis(cs, lo, axis=2)
        scores[:, j] = band_sum[:, :, 0].sum(axis=1)
    best = scores.argmax(axis=1)
    s0 = np.maximum(scores[:, 0], 1e-3)
    curv_gain = np.clip(scores[r, best] / s0, 0, 20)
    curv_dev = np.abs(CURV_GRID[best])

    return dict(
        **_contrast(prof, valid.mean(axis=1) > 0.5, c),
        bandwidth_ch=bw50.astype(float), bandwidth20_ch=bw20.astype(float),
        track_dev_ch=track_dev, curv_dev_ch=curv_dev, curv_gain=curv_gain,
        duty_off=duty_off, n_on_intervals=n_runs.astype(float),
        n_strong_rows=strong.sum(axis=1).astype(float), top2_fraction=top2,
        pixel_fraction=pixel_fraction, kurtosis_t=kurt,
        snr_per_spectrum=snr_row.mean(axis=1), snr_stamp=snr_stamp, frac_outside=frac_out,
    )


def compute_features(data, header, channels, drift_rates, snrs, channel_offset: int = 0,
                     chunk_elems: int = 3_000_000) -> np.ndarray:
    """Feature matrix (n_hits, len(FEATURE_NAMES)) float32.

    data: (n_spectra, n_channels) coarse channel; header: ObservationHeader (df, dt, foff);
    channels: file channel index of each hit at t = 0; drift_rates: Hz/s; snrs: hit S/N;
    channel_offset: file channel of data[:, 0].
    """
    channels = np.asarray(channels, dtype=float) - channel_offset
    drift = np.asarray(drift_rates, dtype=float)
    snr = np.asarray(snrs, dtype=float)
    n = channels.shape[0]
    if n == 0:
        return np.zeros((0, len(FEATURE_NAMES)), dtype=np.float32)
    z, factor = normalise_block(data)
    rows_t, nchan = z.shape
    foff_hz = header.foff * 1e6
    df = abs(foff_hz)
    r_res = header.drift_resolution
    dch_native = header.channels_per_spectrum(drift)  # channels per native spectrum
    dch = dch_native * factor
    w = window_channels(df)
    per = max(1, chunk_elems // (rows_t * w))
    parts = [_chunk_features(z, rows_t, channels[i:i + per], dch[i:i + per], w)
             for i in range(0, n, per)]
    f = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    n_native = int(data.shape[0])
    end = channels + dch_native * (n_native - 1)
    edge = np.minimum(np.minimum(channels, nchan - 1 - channels),
                      np.minimum(end, nchan - 1 - end))
    edge = np.clip(edge, -EDGE_CLIP, EDGE_CLIP)
    bw = np.maximum(f["bandwidth_ch"], 1.0)
    out = dict(
        bandwidth_hz=f["bandwidth_ch"] * df, bandwidth_ch=f["bandwidth_ch"],
        bandwidth20_ch=f["bandwidth20_ch"], drift_hz_s=drift,
        drift_r=drift / r_res if r_res > 0 else drift * 0, smear_ch=np.abs(dch_native),
        track_dev_ch=f["track_dev_ch"], track_dev_rel=f["track_dev_ch"] / bw,
        curv_dev_ch=f["curv_dev_ch"], curv_gain=f["curv_gain"],
        curv_dev_rel=f["curv_dev_ch"] / bw, duty_off=f["duty_off"],
        n_on_intervals=f["n_on_intervals"], strong_fraction=f["n_strong_rows"] / rows_t,
        top2_fraction=f["top2_fraction"], pixel_fraction=f["pixel_fraction"],
        kurtosis_t=f["kurtosis_t"], snr_per_spectrum=f["snr_per_spectrum"],
        snr_stamp=f["snr_stamp"], snr_log10=np.log10(np.maximum(snr, 1e-3)),
        edge_dist_ch=edge, frac_outside=f["frac_outside"],
        **{k: f[k] for k in FEATURE_NAMES if k.startswith("contrast_snr")},
    )
    return np.column_stack([np.asarray(out[k], dtype=np.float32) for k in FEATURE_NAMES])


def measured_spans(n_spectra: int, n_channels: int, channels, dch, starts, counts):
    """(start, count) of the spectra each hit is measured on.

    A whole-block hit (count 0, or a segment covering the block) uses every spectrum. A
    hit found by a time-segment search uses every spectrum where its straight path,
    extended from the segment, lies inside the block (at least its own segment): a signal
    that leaves the band is measured while it is in the band, while a chirp or a pulse
    train found on a short segment is measured over the observation, as its label is
    defined. channels: block column of each path at spectrum 0; dch: columns per spectrum.
    """
    ch = np.asarray(channels, dtype=float)
    dch = np.asarray(dch, dtype=float)
    st = np.zeros(ch.size, int) if starts is None else np.asarray(starts, dtype=int)
    cn = np.zeros(ch.size, int) if counts is None else np.asarray(counts, dtype=int)
    whole = (cn <= 0) | (cn >= n_spectra) | (st < 0) | (st + cn > n_spectra) | (cn < 4)
    st, cn = np.where(whole, 0, st), np.where(whole, n_spectra, cn)
    lo_ch, hi_ch = -0.5, n_channels - 0.5
    with np.errstate(divide="ignore", invalid="ignore"):
        ta, tb = (lo_ch - ch) / dch, (hi_ch - ch) / dch
    moving = np.abs(dch) > 1e-9
    t_in = np.where(moving, np.ceil(np.minimum(ta, tb)), 0.0)
    t_out = np.where(moving, np.floor(np.maximum(ta, tb)), n_spectra - 1.0)
    inside = moving | ((ch >= lo_ch) & (ch <= hi_ch))
    first = np.where(inside, np.clip(t_in, 0, n_spectra - 1), st).astype(int)
    last = np.where(inside, np.clip(t_out, 0, n_spectra - 1), st + cn - 1).astype(int)
    first, last = np.minimum(first, st), np.maximum(last, st + cn - 1)
    return first, last - first + 1


def segment_features(data, header, channels, drift_rates, snrs, starts=None, counts=None,
                     channel_offset: int = 0) -> np.ndarray:
    """:func:`compute_features` on the spectra :func:`measured_spans` gives each hit
    (``spectrum_start``/``spectrum_count`` of a time-segment search; count 0 or None
    means the whole block)."""
    from dataclasses import replace
    ch = np.asarray(channels, dtype=float)
    drift = np.asarray(drift_rates, dtype=float)
    snr = np.asarray(snrs, dtype=float)
    n_t, nchan = np.asarray(data).shape
    dch = header.channels_per_spectrum(drift)
    st, cn = measured_spans(n_t, nchan, ch - channel_offset, dch, starts, counts)
    out = np.zeros((ch.size, len(FEATURE_NAMES)), dtype=np.float32)
    for s, c in sorted(set(zip(st.tolist(), cn.tolist()))):
        sel = (st == s) & (cn == c)
        if s == 0 and c == n_t:
            hdr, block, ch_s = header, data, ch[sel]
        else:
            hdr = replace(header, n_spectra=c, tstart=header.tstart + s * header.tsamp / 86400)
            block = np.asarray(data)[s:s + c]
            ch_s = ch[sel] + dch[sel] * s
        out[sel] = compute_features(block, hdr, ch_s, drift[sel], snr[sel], channel_offset)
    return out


def stamps(data, header, channels, drift_rates, channel_offset: int = 0,
           shape: tuple[int, int] = (16, 64)) -> np.ndarray:
    """Fixed-size de-drifted stamps (n, rows, cols) float32 in noise-sigma units.

    Each stamp follows the hit's straight drift path; spectra are averaged (or repeated)
    to ``rows`` and the central ``cols`` channels are kept, so stamps from any telescope
    or resolution line up (for plots, catalogs or a learned model)."""
    rows, cols = shape
    z, factor = normalise_block(data)
    ch = np.asarray(channels, dtype=float) - channel_offset
    dch = header.channels_per_spectrum(np.asarray(drift_rates, dtype=float)) * factor
    t_n, nchan = z.shape
    t = np.arange(t_n)
    cols_idx = (np.rint(ch[:, None] + dch[:, None] * t[None, :]).astype(np.int64)[:, :, None]
                + np.arange(-(cols // 2), cols - cols // 2)[None, None, :])
    valid = (cols_idx >= 0) & (cols_idx < nchan)
    st = np.where(valid, z.take(t[None, :, None], np.clip(cols_idx, 0, nchan - 1)), 0.0)
    edges = np.linspace(0, t_n, rows + 1)
    out = np.empty((ch.size, rows, cols), dtype=np.float32)
    for i in range(rows):
        lo = int(np.floor(edges[i]))
        hi = max(int(np.ceil(edges[i + 1])), lo + 1)
        out[:, i] = st[:, lo:hi].mean(axis=1)
    return out
