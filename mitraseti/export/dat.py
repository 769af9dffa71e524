"""hits.dat: the plain-text hit table in the layout turboSETI 2.3 writes, so turboSETI's
``find_event`` tools (``read_dat``) and existing scripts can read our results.

Layout (line numbers from 0; ``read_dat`` reads lines 1, 3, 4, 5 and hits from line 9):

    0  # -------------------------- o --------------------------
    1  # File ID: <observation file name>
    2  # -------------------------- o --------------------------
    3  # Source:<source name>
    4  # MJD: <tstart>\tRA: <ra>\tDEC: <dec>
    5  # DELTAT: <tsamp s>\tDELTAF(Hz): <foff Hz>\tmax_drift_rate: <Hz/s>\tobs_length: <s>
    6  # --------------------------
    7  # Top_Hit_# \tDrift_Rate \tSNR \t ... \tFull_number_of_hits \t
    8  # --------------------------
    9+ one tab-separated row of 12 values per filtered hit

Frequencies are in MHz (uncorrected = corrected: no barycentric correction is applied);
Index is the fine-channel index within the coarse channel; freq_start / freq_end are the
frequencies at Index -/+ the top-hit window (ceil(max_drift / r) channels, turboSETI's
half-window); SEFD columns are 0 (unknown); Full_number_of_hits is the number of raw hits
in that coarse channel. RA/Dec use the h/m/s and d/m/s letters (no colons: ``read_dat``
splits on ':').
"""
from __future__ import annotations

import math
from pathlib import Path

from mitraseti.atomic import atomic_write_text
from mitraseti.export.sky import ra_hours, sexagesimal

RULE_O = "# -------------------------- o --------------------------"
RULE = "# --------------------------"
COLUMNS = ["Top_Hit_#", "Drift_Rate", "SNR", "Uncorrected_Frequency", "Corrected_Frequency",
           "Index", "freq_start", "freq_end", "SEFD", "SEFD_freq", "Coarse_Channel_Number",
           "Full_number_of_hits"]
FIRST_HIT_LINE = 9


def header_lines(result) -> list[str]:
    """The nine comment lines that open the file."""
    h = result.header
    ra = sexagesimal(ra_hours(h.ra_deg), precision=1, sep="hms")
    dec = sexagesimal(h.dec_deg, precision=1, sep="dms")
    title = "# " + "".join(f"{c} \t" for c in COLUMNS)
    return [
        RULE_O,
        f"# File ID: {result.file_name} ",
        RULE_O,
        f"# Source:{result.source_name}",
        f"# MJD: {h.tstart:18.12f}\tRA: {ra}\tDEC: {dec}",
        f"# DELTAT: {h.tsamp:10.6f}\tDELTAF(Hz): {h.foff * 1e6:10.6f}\t"
        f"max_drift_rate: {result.params.max_drift:10.6f}\tobs_length: {h.obs_length_s:10.6f}",
        RULE,
        title,
        RULE,
    ]


def hit_rows(result) -> list[str]:
    """One row per filtered hit, ordered by coarse channel then frequency index."""
    h = result.header
    nfpc = int(result.nfpc) or int(h.nchans)
    window = math.ceil(result.params.max_drift / h.drift_resolution) if h.drift_resolution else 0
    raw_per_coarse: dict[int, int] = {}
    for r in result.raw_hits:
        raw_per_coarse[r.coarse_channel] = raw_per_coarse.get(r.coarse_channel, 0) + 1
    rows = []
    hits = sorted(result.filtered_hits, key=lambda x: (x.coarse_channel, x.channel_index))
    for n, hit in enumerate(hits, start=1):
        index = int(hit.channel_index) - int(hit.coarse_channel) * nfpc
        f_mhz = hit.frequency_hz / 1e6
        f_start = h.channel_frequency_hz(hit.channel_index - window) / 1e6
        f_end = h.channel_frequency_hz(hit.channel_index + window) / 1e6
        values = [f"{n:06d}", f"{hit.drift_rate:10.6f}", f"{hit.snr:10.6f}", f"{f_mhz:14.6f}",
                  f"{f_mhz:14.6f}", f"{index:d}", f"{f_start:14.6f}", f"{f_end:14.6f}", "0.0",
                  f"{0.0:14.6f}", f"{int(hit.coarse_channel):d}",
                  f"{raw_per_coarse.get(hit.coarse_channel, 0):d}"]
        rows.append("\t".join(values) + "\t")
    return rows


def dat_text(result) -> str:
    return "\n".join(header_lines(result) + hit_rows(result)) + "\n"


def write_hits_dat(result, path: str | Path) -> Path:
    """Write hits.dat atomically."""
    return atomic_write_text(path, dat_text(result))
