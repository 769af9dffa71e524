"""``mitraseti jobs``: list, cancel and retry your jobs on a MitraSETI REST service.

    mitraseti jobs list [--limit N | --all] [--json]
    mitraseti jobs cancel JOB_ID
    mitraseti jobs retry JOB_ID

Each takes ``--url URL`` (default ``$MITRASETI_API_URL``, else http://127.0.0.1:8000) and
``--api-key KEY`` or ``--token JWT`` (default ``$MITRASETI_API_KEY``, else
``$MITRASETI_API_TOKEN``). ``list`` prints one job a line (id, status, submitted UTC,
source name), newest first; ``--all`` follows the pages to the oldest job.

Exit status: 0 done; 2 when the service refused the request as wrong (400, 403, 404: an
unknown job, another user's, bad credentials); 1 otherwise (409: a finished job cannot be
cancelled, or only a failed or cancelled one retried; 429: the concurrent-job limit; the
service unreachable). Imports cheaply: the client loads when a command runs.
"""
from __future__ import annotations

import datetime as _dt
import json
import os

from mitraseti.console import CliError
from mitraseti.errors import MitraSETIError

BAD_REQUEST_STATUSES = (400, 403, 404)


def register(subparsers) -> None:
    """Add ``jobs`` (with ``list``, ``cancel``, ``retry``) to an argparse sub-parsers."""
    p = subparsers.add_parser("jobs", help="list, cancel or retry your jobs on a MitraSETI "
                              "REST service")
    actions = p.add_subparsers(dest="jobs_action", metavar="ACTION", required=True,
                               parser_class=type(p))
    listing = actions.add_parser("list", help="your jobs, newest first")
    size = listing.add_mutually_exclusive_group()
    size.add_argument("--limit", type=int, default=50, metavar="N",
                      help="jobs shown, 1-100 (default 50)")
    size.add_argument("--all", action="store_true", help="every job, page by page")
    listing.add_argument("--json", action="store_true", help="the jobs as a JSON list")
    listing.set_defaults(func=cmd_list)
    for name, func, text in (("cancel", cmd_cancel, "cancel a queued or running job"),
                             ("retry", cmd_retry, "run a failed or cancelled job again")):
        q = actions.add_parser(name, help=text)
        q.add_argument("job_id", metavar="JOB_ID")
        q.set_defaults(func=func)
    for q in (listing, actions.choices["cancel"], actions.choices["retry"]):
        q.add_argument("--url", default=None, help="the service's base URL (default "
                       "$MITRASETI_API_URL or http://127.0.0.1:8000)")
        q.add_argument("--api-key", default=None, help="API key (default "
                       "$MITRASETI_API_KEY)")
        q.add_argument("--token", default=None, help="JWT instead of an API key "
                       "(default $MITRASETI_API_TOKEN)")


def client_for(args):
    """The ``Client`` for ``--url`` and the credential options (or their variables)."""
    from mitraseti.client import Client, api_url_from_env

    key = args.api_key or (None if args.token else os.environ.get("MITRASETI_API_KEY"))
    token = args.token or (None if key else os.environ.get("MITRASETI_API_TOKEN"))
    return Client(args.url or api_url_from_env(), api_key=key, token=token)


def _calling(call):
    """``call()``; a refused request (400/403/404) becomes a CliError (exit 2), an
    unreachable service a one-line MitraSETIError (exit 1)."""
    import requests

    from mitraseti.client import MitraSETIAPIError

    try:
        return call()
    except MitraSETIAPIError as exc:
        if exc.status in BAD_REQUEST_STATUSES:
            raise CliError(str(exc)) from exc
        raise
    except requests.RequestException as exc:
        raise MitraSETIError(f"the service did not answer: {type(exc).__name__}: "
                             f"{exc}") from exc


def job_line(job: dict) -> str:
    """``<job_id>  <status>  <submitted UTC>  <source name>``."""
    created = _dt.datetime.fromtimestamp(int(job.get("created_at") or 0),
                                         _dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
    return f"{job['job_id']}  {job['status']:<10}  {created}  {job.get('source_name', '')}"


def cmd_list(args) -> int:
    if not 1 <= args.limit <= 100:
        raise CliError(f"--limit must be 1-100, got {args.limit}")
    api = client_for(args)
    jobs = _calling(lambda: list(api.iter_jobs()) if args.all else api.jobs(args.limit))
    if args.json:
        print(json.dumps(jobs, indent=1))
    else:
        for job in jobs:
            print(job_line(job))
    return 0


def cmd_cancel(args) -> int:
    job = _calling(lambda: client_for(args).cancel(args.job_id))
    print(f"job {job['job_id']} {job['status']}")
    return 0


def cmd_retry(args) -> int:
    job = _calling(lambda: client_for(args).retry(args.job_id))
    print(f"job {job['job_id']} {job['status']} again")
    return 0
