"""hits.dat follows the layout turboSETI 2.3 writes and its find_event.read_dat reads.

The expected layout is written out here from turboSETI's file_writers.py / find_event.py:
nine '#' lines (file id on line 1, source on 3, MJD/RA/DEC tab-separated on 4, DELTAT /
DELTAF(Hz) / max_drift_rate / obs_length on 5, the column titles on 7), then one row of
12 tab-separated values per hit from line 9 on.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from mitraseti.export.dat import write_hits_dat

TURBO_COLUMNS = ["Top_Hit_#", "Drift_Rate", "SNR", "Uncorrected_Frequency",
                 "Corrected_Frequency", "Index", "freq_start", "freq_end", "SEFD", "SEFD_freq",
                 "Coarse_Channel_Number", "Full_number_of_hits"]
TURBO_VENV_PYTHON = (Path(__file__).resolve().parents[2] / "benchmarks" / ".turboseti-venv"
                     / "bin" / "python")


def _field(line: str, i: int) -> str:
    """What read_dat does: split on tabs, then keep the text after the last ':'."""
    return line.strip().split("\t")[i].split(":")[-1].strip()


def test_dat_layout(result, tmp_path):
    path = write_hits_dat(result, tmp_path / "hits.dat")
    lines = path.read_text().splitlines()
    assert all(line.startswith("#") for line in lines[:9])
    assert lines[0] == lines[2] == "# -------------------------- o --------------------------"
    assert lines[6] == lines[8] == "# --------------------------"
    assert lines[1].split(":")[-1].strip() == "obs.fil"
    assert lines[3].split(":")[-1].strip() == "TEST_SRC"
    h = result.header
    assert float(_field(lines[4], 0)) == pytest.approx(h.tstart, abs=1e-9)
    assert _field(lines[4], 1) == "17h40m00.0s" and _field(lines[4], 2) == "-12d15m00.0s"
    assert lines[5].startswith("# DELTAT:")
    assert float(_field(lines[5], 0)) == pytest.approx(h.tsamp, abs=1e-6)
    assert float(_field(lines[5], 1)) == pytest.approx(h.foff * 1e6, abs=1e-6)
    assert lines[5].split("\t")[1].strip().startswith("DELTAF(Hz):")
    assert lines[5].split("\t")[2].strip().startswith("max_drift_rate:")
    assert float(_field(lines[5], 2)) == 4.0
    assert float(_field(lines[5], 3)) == pytest.approx(h.n_spectra * h.tsamp, abs=1e-6)
    assert [c.strip() for c in lines[7].lstrip("#").strip().split("\t")] == TURBO_COLUMNS

    rows = [line.strip().split("\t") for line in lines[9:]]
    assert len(rows) == 4 and all(len(r) == 12 for r in rows)
    hits = sorted(result.filtered_hits, key=lambda x: (x.coarse_channel, x.channel_index))
    for n, (row, hit) in enumerate(zip(rows, hits), start=1):
        assert int(row[0]) == n
        assert float(row[1]) == pytest.approx(hit.drift_rate, abs=1e-6)
        assert float(row[2]) == pytest.approx(hit.snr, abs=1e-6)
        assert float(row[3]) == pytest.approx(hit.frequency_hz / 1e6, abs=1e-6)
        assert int(row[5]) == hit.channel_index - hit.coarse_channel * 1024
        assert int(row[10]) == hit.coarse_channel
        assert int(row[11]) == 2          # two raw hits per coarse channel in the fixture
        lo, hi = sorted([float(row[6]), float(row[7])])
        assert lo < float(row[3]) < hi


def test_dat_zero_hits(empty_result, tmp_path):
    lines = write_hits_dat(empty_result, tmp_path / "hits.dat").read_text().splitlines()
    assert len(lines) == 9 and all(line.startswith("#") for line in lines)


def _turboseti_available() -> bool:
    if not TURBO_VENV_PYTHON.exists():
        return False
    probe = subprocess.run([str(TURBO_VENV_PYTHON), "-c", "import turbo_seti.find_event"],
                           capture_output=True, timeout=120)
    return probe.returncode == 0


@pytest.mark.skipif(not _turboseti_available(),
                    reason="benchmarks/.turboseti-venv with turbo_seti not installed")
def test_turboseti_read_dat_reads_our_file(result, tmp_path):
    path = write_hits_dat(result, tmp_path / "hits.dat")
    code = ("import json, sys\n"
            "from turbo_seti.find_event.find_event import read_dat\n"
            "df = read_dat(sys.argv[1])\n"
            "print(json.dumps({'n': len(df), 'freq': [float(x) for x in df['Freq']],\n"
            "  'drift': [float(x) for x in df['DriftRate']], 'snr': [float(x) for x in df['SNR']],\n"
            "  'source': str(df['Source'].iloc[0]), 'coarse': [int(x) for x in df['CoarseChanNum']]}))\n")
    proc = subprocess.run([str(TURBO_VENV_PYTHON), "-c", code, str(path)], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    hits = sorted(result.filtered_hits, key=lambda x: (x.coarse_channel, x.channel_index))
    assert got["n"] == 4 and got["source"] == "TEST_SRC"
    assert got["freq"] == pytest.approx([h.frequency_hz / 1e6 for h in hits], abs=1e-6)
    assert got["drift"] == pytest.approx([h.drift_rate for h in hits], abs=1e-6)
    assert got["coarse"] == [h.coarse_channel for h in hits]
