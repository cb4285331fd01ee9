"""A model replica killed under the application: every request still gets an ensemble answer
(from the others, naming the missing model, while no replica serves it), and Serve brings up a
new replica that serves it again."""

from __future__ import annotations

import time

import pytest
import ray

PREFIX = "SERVE_REPLICA::meridian-test#Model_logistic#"


def _replicas() -> list[str]:
    return [a["name"] for a in ray.util.list_named_actors(all_namespaces=True)
            if a["namespace"] == "serve" and a["name"].startswith(PREFIX)]


@pytest.mark.slow
def test_killed_model_replica_does_not_break_predictions(served):
    (victim,) = _replicas()
    ray.kill(ray.get_actor(victim, namespace="serve"), no_restart=True)
    answers = []
    deadline = time.time() + 60
    while time.time() < deadline:
        r = served.get("/predictions/EURUSD", params={"horizons": "1h"})
        assert r.status_code == 200, r.text
        h = r.json()["horizons"][0]
        names = {m["name"] for m in h["models"]}
        assert "xgboost" in names and h["ensemble"] is not None
        if "logistic" not in names:
            assert any(m["name"] == "logistic" for m in h["missing"])
        answers.append("logistic" in names)
        if answers[-1] and _replicas() and _replicas() != [victim]:
            break
        time.sleep(0.1)
    assert _replicas() and _replicas() != [victim], "no new logistic replica within 60 s"
    assert answers[-1], "the new replica does not serve logistic predictions"
