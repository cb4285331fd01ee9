"""Small helpers shared by test packages (fixtures live in the conftest files)."""

from __future__ import annotations

import socket


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli_json(capsys, *argv, **loads_kw):
    """Run ``meridian ARGV`` in-process, assert it succeeded and return its ``--json`` output parsed."""
    import json

    from pipelines.cli import main
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out, **loads_kw)
