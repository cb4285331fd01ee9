"""``meridian submit JOB [job args...]``: run ``python -m pipelines.jobs.JOB ...`` on the cluster
that ``cluster/start-head`` started, as the README's ``ray job submit --working-dir . -- python
-m pipelines.jobs.JOB`` line does, through Ray's Jobs SDK.

The job gets the same runtime environment as that line: this checkout as its working directory
(``.gitignore`` respected), and the head's environment (Meridian's venv first on PATH, its
absolute ``MERIDIAN_HOME`` and ``MERIDIAN_CONFIG``), which ``cluster/start-head`` exports to every
process of the head. The head's address: ``--address``, else ``RAY_API_SERVER_ADDRESS``, else an
``http(s)://`` ``RAY_ADDRESS``, else the one ``cluster/start-head`` recorded in its ``--temp-dir``."""

from __future__ import annotations

import argparse
import ast
import asyncio
import os
import shlex
import sys
import time
from pathlib import Path

from pipelines.cli import emit
from pipelines.errors import ClusterError, ConfigError

JOBS_DIR = Path(__file__).resolve().parents[1] / "jobs"
CHECKOUT = JOBS_DIR.parents[1]
HEAD_TEMP_DIR = "/tmp/meridian-ray"
ADDRESS_FILE = "meridian-head.address"   # written by cluster/start-head beside its pid file


def job_names(jobs_dir: Path = JOBS_DIR) -> list[str]:
    """The jobs a user can submit: modules of ``pipelines/jobs`` with a top-level ``main``."""
    names = []
    for f in sorted(jobs_dir.glob("*.py")):
        if f.name.startswith("_"):
            continue
        tree = ast.parse(f.read_text(), filename=str(f))
        if any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body):
            names.append(f.stem)
    return names


def head_address(given: str | None, temp_dir: str) -> str:
    """The head's dashboard / Jobs API URL, from the option, the environment or the head's record."""
    if given:
        return given.rstrip("/")
    for var in ("RAY_API_SERVER_ADDRESS", "RAY_ADDRESS"):
        value = os.environ.get(var, "")
        if value.startswith(("http://", "https://")):
            return value.rstrip("/")
    record = Path(temp_dir) / ADDRESS_FILE
    if record.is_file() and record.read_text().strip():
        return record.read_text().strip().rstrip("/")
    raise ClusterError(f"no cluster to submit to: pass --address http://HEAD:8265, set RAY_API_SERVER_ADDRESS, "
                       f"or start a head with cluster/start-head (no {record})")


def entrypoint(job: str, job_args: list[str]) -> str:
    return shlex.join(["python", "-m", f"pipelines.jobs.{job}", *job_args])


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("submit", help="run a job on the cluster (ray job submit --working-dir . -- python -m "
                                      "pipelines.jobs.JOB)",
                       description=__doc__.split("\n\n")[0])
    p.add_argument("--address", help="the head's Jobs API, http://HEAD:8265 (default: RAY_API_SERVER_ADDRESS, "
                                     "else the address cluster/start-head recorded)")
    p.add_argument("--temp-dir", default=HEAD_TEMP_DIR,
                   help=f"the head's --temp-dir, where cluster/start-head records its address (default {HEAD_TEMP_DIR})")
    p.add_argument("--wait", action="store_true",
                   help="follow the job's logs to its end; exit 0 when it succeeded, 1 when not")
    p.add_argument("--json", action="store_true",
                   help='print {"job_id", "dashboard_url", "address"} (with --wait the logs go to stderr)')
    p.add_argument("job", metavar="JOB", help="a module of pipelines/jobs: " + ", ".join(job_names()))
    p.add_argument("job_args", nargs=argparse.REMAINDER, help="the job's own arguments")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    names = job_names()
    if args.job not in names:
        raise ConfigError(f"unknown job {args.job!r}: one of {', '.join(names)}")
    address = head_address(args.address, args.temp_dir)
    from ray.job_submission import JobSubmissionClient
    try:
        client = JobSubmissionClient(address)
        job_id = client.submit_job(entrypoint=entrypoint(args.job, args.job_args),
                                   runtime_env={"working_dir": str(CHECKOUT)})
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise ClusterError(f"cannot submit to {address}: {str(exc).splitlines()[0]}") from None
    out = {"job_id": job_id, "dashboard_url": f"{address}/#/jobs/{job_id}", "address": address}
    emit(out, args.json, f"submitted {args.job} as {job_id}\n  dashboard: {out['dashboard_url']}\n"
                         f"  logs: ray job logs --address {address} --follow {job_id}")
    if not args.wait:
        return 0
    sys.stdout.flush()
    logs = sys.stderr if args.json else sys.stdout

    async def follow() -> None:
        async for chunk in client.tail_job_logs(job_id):
            logs.write(chunk)
            logs.flush()

    asyncio.run(follow())
    status = client.get_job_status(job_id)
    while not status.is_terminal():   # the log stream can end a moment before the status does
        time.sleep(0.5)
        status = client.get_job_status(job_id)
    info = client.get_job_info(job_id)
    print(f"job {job_id}: {status.value}{' (' + info.message + ')' if info.message else ''}", file=sys.stderr)
    return 0 if status.value == "SUCCEEDED" else 1
