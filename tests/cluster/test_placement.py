"""Where each kind of work lands on the two-node cluster, and surviving the loss of the GPU node."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import ray

from cluster.placement import (Work, has_gpu, node_of_current_task, options_for, rllib_resources,
                               run_with_fallback, training_options)


def where() -> dict:
    return node_of_current_task()


def _node_ids(cluster, worker):
    return cluster.head_node.node_id, worker.node_id


def test_work_lands_where_it_belongs(two_nodes):
    cluster, worker, _ = two_nodes
    head_id, gpu_id = _node_ids(cluster, worker)
    task = ray.remote(where)
    for work in (Work.INGEST, Work.STORE_WRITER, Work.SERVE, Work.SCHEDULER):
        got = ray.get(task.options(**options_for(work)).remote(), timeout=60)
        assert got["node_id"] == head_id, work
    for work in (Work.TRAIN, Work.TUNE_TRIAL, Work.RL_LEARNER, Work.BATCH_INFERENCE):
        got = ray.get(task.options(**options_for(work)).remote(), timeout=60)
        assert got["node_id"] == gpu_id and got["gpu_ids"] == ["0"], work
    # an actor (the ingestion actors' kind) on the head
    actor = ray.remote(type("Probe", (), {"where": lambda self: node_of_current_task()}))
    a = actor.options(**options_for(Work.INGEST)).remote()
    assert ray.get(a.where.remote(), timeout=60)["node_id"] == head_id
    rl = rllib_resources()
    assert rl["learners"] == {"num_learners": 1, "num_gpus_per_learner": 1}
    assert rl["env_runners"]["custom_resources_per_env_runner"] == {"head": 0.01}


def test_without_a_gpu_training_falls_back_to_cpu(two_nodes):
    cluster, worker, _ = two_nodes
    cluster.remove_node(worker)
    deadline = time.time() + 30
    while has_gpu() and time.time() < deadline:
        time.sleep(0.2)
    assert not has_gpu()
    opts = training_options(want_gpu=True)
    assert "num_gpus" not in opts
    got = ray.get(ray.remote(where).options(**opts).remote(), timeout=60)
    assert got["node_id"] == cluster.head_node.node_id and got["gpu_ids"] == []


def _train(seed: int, seconds: float, reporter=None) -> dict:
    """A deterministic small training run that takes a while (least squares by gradient descent)."""
    if reporter is not None:
        ray.get(reporter.started.remote(node_of_current_task()))
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2000, 8))
    w_true = np.arange(1, 9, dtype=float)
    y = X @ w_true
    w = np.zeros(8)
    t_end = time.time() + seconds
    steps = 0
    while steps < 400 or time.time() < t_end:
        w -= 0.05 * X.T @ (X @ w - y) / len(X)
        steps += 1
    return {"w": w.round(6).tolist(), **node_of_current_task()}


def test_losing_the_gpu_node_mid_training_reschedules_on_cpu(two_nodes):
    cluster, worker, _ = two_nodes
    head_id, gpu_id = _node_ids(cluster, worker)
    result: dict = {}

    @ray.remote(num_cpus=0, resources={"head": 0.01})
    class Reporter:
        def __init__(self):
            self.starts = []

        def started(self, where):
            self.starts.append(where)

        def get(self):
            return self.starts

    reporter = Reporter.remote()

    def run():
        result["out"] = run_with_fallback(_train, 7, 6.0, reporter, want_gpu=True, timeout=180)

    th = threading.Thread(target=run)
    th.start()
    # wait until the task runs on the GPU node, then kill that node
    deadline = time.time() + 60
    while time.time() < deadline:
        starts = ray.get(reporter.get.remote(), timeout=30)
        if starts:
            assert starts[0]["node_id"] == gpu_id and starts[0]["gpu_ids"] == ["0"]
            break
        time.sleep(0.2)
    else:
        pytest.fail("the training task never started on the GPU node")
    cluster.remove_node(worker, allow_graceful=False)
    th.join(timeout=180)
    assert not th.is_alive()
    out = result["out"]
    assert out["node_id"] == head_id and out["gpu_ids"] == []
    starts = ray.get(reporter.get.remote(), timeout=30)
    assert [s["node_id"] for s in starts] == [gpu_id, head_id]  # ran twice: GPU node, then CPU
    # and the result is the correct one
    np.testing.assert_allclose(out["w"], np.arange(1, 9), atol=1e-3)


def test_tasks_retry_when_their_worker_dies(two_nodes):
    cluster, worker, _ = two_nodes

    @ray.remote(max_retries=2, num_cpus=1, resources={"gpu_worker": 0.01})
    def first_attempt_dies(marker_actor):
        n = ray.get(marker_actor.bump.remote())
        if n == 1:
            import os
            os._exit(1)  # the worker process crashes on the first attempt
        return n

    @ray.remote(num_cpus=0)
    class Counter:
        def __init__(self):
            self.n = 0

        def bump(self):
            self.n += 1
            return self.n

    c = Counter.remote()
    assert ray.get(first_attempt_dies.remote(c), timeout=120) == 2
