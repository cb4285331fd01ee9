"""`meridian submit` without a cluster: unknown jobs are refused with the list, and the head's
address comes from the option, the environment, or the head's record, in that order."""

from __future__ import annotations

import pytest

from pipelines.cli import main
from pipelines.cli.submit import ADDRESS_FILE, entrypoint, head_address, job_names
from pipelines.errors import ClusterError


def test_jobs_are_the_modules_with_a_main():
    names = job_names()
    assert {"demo", "tune", "rl", "walkforward", "features"} <= set(names)
    assert "__init__" not in names


def test_unknown_job_is_refused_with_the_list(capsys):
    assert main(["submit", "--address", "http://127.0.0.1:9", "nosuchjob"]) == 1
    err = capsys.readouterr().err
    assert "unknown job 'nosuchjob'" in err and "demo" in err and "tune" in err


def test_address_order(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_API_SERVER_ADDRESS", raising=False)
    monkeypatch.delenv("RAY_ADDRESS", raising=False)
    with pytest.raises(ClusterError, match="cluster/start-head"):
        head_address(None, str(tmp_path))
    (tmp_path / ADDRESS_FILE).write_text("http://10.0.0.5:8265\n")
    assert head_address(None, str(tmp_path)) == "http://10.0.0.5:8265"
    monkeypatch.setenv("RAY_ADDRESS", "10.0.0.6:6390")          # a GCS address is not the Jobs API
    assert head_address(None, str(tmp_path)) == "http://10.0.0.5:8265"
    monkeypatch.setenv("RAY_API_SERVER_ADDRESS", "http://10.0.0.7:8265/")
    assert head_address(None, str(tmp_path)) == "http://10.0.0.7:8265"
    assert head_address("http://h:1", str(tmp_path)) == "http://h:1"


def test_entrypoint_quotes_the_job_arguments():
    assert entrypoint("walkforward", ["--symbols", "GOOG", "--ensembles", ""]) == \
        "python -m pipelines.jobs.walkforward --symbols GOOG --ensembles ''"
