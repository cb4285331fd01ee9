"""The ``meridian`` command. Each sub-command lives in its own module in this package and
exposes ``register(subparsers)``; modules are discovered, so adding a command touches one file."""

from __future__ import annotations

import argparse
import importlib
import json
import logging
from importlib.metadata import PackageNotFoundError, version
import pkgutil
import sys
from typing import Any, Sequence

from pydantic import ValidationError

from pipelines.config import config_problem
from pipelines import secrets as _secrets
from pipelines.errors import MeridianError


def emit(payload: Any, as_json: bool, text: str | None = None) -> None:
    """Print a result: JSON when asked, else the human text (or the JSON, indented)."""
    if as_json:
        print(json.dumps(payload, default=str, sort_keys=True))
    else:
        print(text if text is not None else json.dumps(payload, default=str, indent=2, sort_keys=True))


def run_job(job: str, args: argparse.Namespace) -> int:
    """Run ``pipelines.jobs.<job>`` (its ``execute``) for a sub-command and print its ``summary``
    or, with ``--json``, the result."""
    mod = importlib.import_module(f"pipelines.jobs.{job}")
    out = mod.execute(args)
    emit(out, args.json, mod.summary(out))
    return 0


def meridian_version() -> str:
    """The installed distribution's version."""
    try:
        return version("meridian")
    except PackageNotFoundError:
        return "unknown (not installed: pip install -e .)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meridian", description="Meridian: predict, size, backtest and serve.")
    parser.add_argument("--version", action="version", version=f"meridian {meridian_version()}")
    parser.add_argument("--config", help="YAML configuration file (else $MERIDIAN_CONFIG, else defaults)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="log at INFO level (-vv: DEBUG); keys and passwords are never shown")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for mod in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if mod.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{mod.name}")
        if hasattr(module, "register"):
            module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.DEBUG if args.verbose >= 2 else logging.INFO if args.verbose else logging.WARNING
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    _secrets.install()
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        rc = args.func(args)
    except MeridianError as exc:
        print(f"meridian: error: {_secrets.scrub(str(exc))}", file=sys.stderr)
        return 1
    except ValidationError as exc:
        print(f"meridian: error: {_secrets.scrub(config_problem(exc))}", file=sys.stderr)
        return 2
    return int(rc or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
