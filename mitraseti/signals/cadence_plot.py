"""One PNG per cadence event: the waterfalls of every file stacked in time order, each
centred on the event's drift-projected frequency, with the drift line drawn across them.

x axis: frequency offset (Hz) from the event's frequency at t = 0 of the first file;
y axis: seconds since the start of the first file. Drawn with matplotlib's Agg canvas
(no pyplot, so the caller's backend is untouched).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

MIN_HALF_CHANNELS = 48


def _window(file, c0: int, c1: int) -> np.ndarray | None:
    """(n_spectra, c1 - c0) block of one file, or None when its data is unavailable."""
    h = file.header
    c0, c1 = max(0, c0), min(int(h.nchans), c1)
    if c1 <= c0:
        return None
    if file.data is not None:
        return np.asarray(file.data[:, c0:c1], dtype=np.float32)
    if file.path is not None:
        from ..io import open_observation
        with open_observation(file.path) as obs:
            return obs.read(0, None, c0, c1)
    return None


def plot_event(event, files, out_path: Path) -> Path:
    """Write the stacked-waterfall PNG of ``event`` to ``out_path``; returns the path."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    h0 = files[0].header
    hit = event.hit
    t_ref = float(files[event.file_index].header.tstart)
    t_first = float(h0.tstart)
    f0 = hit.frequency_hz + hit.drift_rate * (t_first - t_ref) * 86400.0  # at file 0 start
    df, foff_hz = h0.df_hz, h0.foff * 1e6
    half = int(max(MIN_HALF_CHANNELS, abs(hit.drift_rate) * h0.obs_length_s / df * 1.5,
                   (hit.bandwidth_hz or 0.0) / df))
    fig = Figure(figsize=(6, 1.6 * len(files) + 0.8))
    FigureCanvasAgg(fig)
    axes = np.atleast_1d(fig.subplots(len(files), 1, sharex=True))
    for k, (f, ax) in enumerate(zip(files, axes)):
        hk = f.header
        t_start = (float(hk.tstart) - t_first) * 86400.0
        f_mid = f0 + hit.drift_rate * (t_start + 0.5 * hk.obs_length_s)
        c_mid = int(round((f_mid / 1e6 - hk.fch1) / hk.foff))
        block = _window(f, c_mid - half, c_mid + half)
        tag = "ON" if k % 2 == 0 else "OFF"
        if block is not None and block.size:
            c_lo = max(0, c_mid - half)
            f_lo = (hk.fch1 * 1e6 + (c_lo - 0.5) * foff_hz) - f0
            f_hi = f_lo + block.shape[1] * foff_hz
            img = block if foff_hz > 0 else block[:, ::-1]
            lo, hi = sorted((f_lo, f_hi))
            ax.imshow(img, aspect="auto", origin="lower", cmap="viridis",
                      extent=[lo, hi, t_start, t_start + hk.obs_length_s],
                      interpolation="nearest")
        else:
            ax.text(0.5, 0.5, "data not available", transform=ax.transAxes, ha="center")
        t = np.array([t_start, t_start + hk.obs_length_s])
        ax.plot(hit.drift_rate * t, t, "r--", lw=0.8, alpha=0.6)
        ax.set_ylim(t_start, t_start + hk.obs_length_s)
        ax.set_ylabel(f"{tag}\n t (s)", fontsize=7)
        ax.set_title(f"{f.name}", fontsize=7, loc="left")
        ax.tick_params(labelsize=6)
    axes[-1].set_xlabel(f"frequency - {f0 / 1e6:.6f} MHz (Hz)", fontsize=7)
    fig.suptitle(f"event {event.event_id}: {hit.classification}, drift {hit.drift_rate:.4g} "
                 f"Hz/s, S/N {hit.snr:.1f}", fontsize=8)
    fig.tight_layout()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=80)
    tmp.replace(out_path)
    return out_path
