"""``mitraseti cadence --remote URL``: the cadence analysis as one job of a REST service.

Uploads every file (observing order, ON first), submits ONE cadence job
(:meth:`mitraseti.client.Client.analyze_cadence`), waits for it and writes into ``--out``
what the local command writes (``cadence_events.csv``, ``event_NNNN.png``) plus the job's
``results.json`` and executed ``report.ipynb``. Exit status: 0 done, 2 bad input (a missing
file, or the service refused the request with 400 / 403 / 404 / 413), 1 anything else
(the job failed, quota reached, service unreachable).
"""
from __future__ import annotations

import csv
import io
import os
import sys
import zipfile
from pathlib import Path

BAD_INPUT_STATUSES = (400, 403, 404, 413)


def _error(message: str, status: int) -> int:
    print(f"mitraseti: error: {message}", file=sys.stderr)
    return status


def _client(args):
    from mitraseti.client import Client

    key = args.api_key or (None if args.token else os.environ.get("MITRASETI_API_KEY"))
    token = args.token or (None if key else os.environ.get("MITRASETI_API_TOKEN"))
    return Client(args.remote, api_key=key, token=token)


def run_remote(args) -> int:
    """Run ``args.files`` as a cadence job on ``args.remote``; returns the exit status."""
    import requests

    from mitraseti.client import JobTimeout, MitraSETIAPIError

    for k, f in enumerate(args.files):
        if not Path(f).is_file():
            return _error(f"cadence file {k + 1} ({f}) does not exist", 2)
    out = Path(args.out)
    params = {"max_drift": args.max_drift, "min_drift": args.min_drift, "snr": args.snr,
              "n_coarse_chan": args.n_coarse_chan}
    try:
        api = _client(args)
        started = api.analyze_cadence(args.files, filter_level=args.filter_level,
                                      progress=sys.stderr.isatty(), **params)
        job_id = started["job_id"]
        print(f"submitted cadence job {job_id} ({len(args.files)} files) to {args.remote}",
              file=sys.stderr)
        job = api.wait(job_id, timeout=args.timeout, progress=sys.stderr.isatty(),
                       exports=True)
        if job["status"] != "complete":
            return _error(f"job {job_id} failed: {job.get('error', 'unknown error')}", 1)
        out.mkdir(parents=True, exist_ok=True)
        events = api.download(job_id, "events")
        (out / "cadence_events.csv").write_bytes(events)
        for fmt, name in (("json", "results.json"), ("notebook", "report.ipynb")):
            api.download(job_id, fmt, dest=out / name)
        if not args.no_plots:
            with zipfile.ZipFile(io.BytesIO(api.download(job_id, "events_png"))) as zf:
                zf.extractall(out)
    except MitraSETIAPIError as exc:
        return _error(str(exc) + _context(exc.body),
                      2 if exc.status in BAD_INPUT_STATUSES else 1)
    except JobTimeout as exc:
        return _error(str(exc), 1)
    except requests.RequestException as exc:
        return _error(f"cannot reach {args.remote}: {exc}", 1)
    rows = list(csv.DictReader(io.StringIO(events.decode("utf-8"))))
    n_et = sum(r["classification"] == "CANDIDATE_ET" for r in rows)
    print(f"{len(rows)} event(s) at filter level {job.get('filter_level', args.filter_level)}"
          f", {n_et} CANDIDATE_ET; wrote {out / 'cadence_events.csv'} (job {job_id})")
    for r in rows:
        print(f"  #{r['event_id']}: {float(r['frequency_hz']) / 1e6:.6f} MHz, drift "
              f"{float(r['drift_rate']):+.4f} Hz/s, S/N {float(r['snr']):.1f}, "
              f"{r['classification']} {r['rfi_source']}".rstrip())
    return 0


def _context(body) -> str:
    if not isinstance(body, dict):
        return ""
    extra = {k: v for k, v in body.items() if k != "error"}
    return f" ({', '.join(f'{k}: {v}' for k, v in extra.items())})" if extra else ""
