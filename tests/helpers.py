"""Small helpers shared by test packages (fixtures live in the conftest files)."""

from __future__ import annotations

from cluster.runtime import free_port  # noqa: F401 (the tests' free ports are the runtime's)


def cli_json(capsys, *argv, **loads_kw):
    """Run ``meridian ARGV`` in-process, assert it succeeded and return its ``--json`` output parsed."""
    import json

    from pipelines.cli import main
    capsys.readouterr()
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out, **loads_kw)


def serve_port() -> int:
    """The port of Serve's HTTP proxy in this Ray session: the running one's (another fixture's
    application may be up), else a new proxy started on a free port."""
    from ray import serve
    from ray.serve.context import _get_global_client

    client = _get_global_client(raise_if_no_controller_running=False)
    if client is not None:
        return int(client.http_config.port)
    port = free_port()
    serve.start(http_options={"host": "127.0.0.1", "port": port})
    return port


def drop_serve_apps(*names: str) -> None:
    """Delete these Serve applications; shut Serve down when no other application is left."""
    from ray import serve

    for name in names:
        serve.delete(name)
    if not serve.status().applications:
        serve.shutdown()
