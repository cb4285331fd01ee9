"""Jobs: ``python -m pipelines.jobs.<name>`` locally or via ``ray job submit``."""

from __future__ import annotations

import argparse
import json
from types import ModuleType


def job_parser(job: ModuleType) -> argparse.ArgumentParser:
    """The command line of a job module: its own ``parser()``, or ``--config`` plus the arguments
    its ``add_arguments(parser)`` declares."""
    if hasattr(job, "parser"):
        return job.parser()
    name = job.__spec__.name if job.__spec__ is not None else job.__name__  # not "__main__" under -m
    p = argparse.ArgumentParser(prog=f"python -m {name}", description=(job.__doc__ or "").split("\n")[0])
    p.add_argument("--config")
    job.add_arguments(p)
    return p


def job_main(job: ModuleType, argv: list[str] | None = None) -> int:
    """The ``python -m`` entry point of a job module that declares ``add_arguments(parser)``,
    ``execute(args)`` and ``summary(result)``: parse, run, print the summary or (``--json``) the
    result."""
    args = job_parser(job).parse_args(argv)
    out = job.execute(args)
    print(json.dumps(out, default=str) if args.json else job.summary(out))
    return 0
