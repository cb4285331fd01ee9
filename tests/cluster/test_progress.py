"""RL training reports its progress through Ray's own records: while the algorithm trains in the
driver, the state API (what the dashboard's Jobs page shows) lists its progress board and one
named report per iteration, with the metrics so far."""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pytest
from ray.util.state import list_actors, list_tasks

from cluster.progress import ACTOR_PREFIX
from models.rl.rllib_agents import train

ITERATIONS = 12
LINE = re.compile(rf"^rl ppo TEST 1h iteration (\d+)/{ITERATIONS} .*env_steps=\d+")


def _env_config():
    rng = np.random.default_rng(0)
    T = 400
    return {"features": rng.normal(size=(T, 3)).astype("float32"),
            "close": 100 * np.exp(np.cumsum(rng.normal(0, 0.01, T))),
            "window": 8, "episode_length": 64, "end": 300}


@pytest.mark.slow
@pytest.mark.dashboard
def test_rl_progress_is_read_back_through_the_state_api_while_it_trains(two_nodes):
    _, _, port = two_nodes
    address = f"http://127.0.0.1:{port}"
    # the state API is the dashboard's own (GCS records); no job agent needed, so no wait_ready:
    # a poll before the dashboard answers just finds nothing yet
    seen_while_training: set[str] = set()   # lines listed in a poll that also found the board alive
    boards: set[str] = set()
    done = threading.Event()
    errors: list[str] = []

    def poll():
        while not done.is_set():
            try:
                tasks = list_tasks(address=address, filters=[("type", "=", "ACTOR_TASK")], limit=1000,
                                   raise_on_missing_output=False)
                lines = {t.name for t in tasks if LINE.match(t.name or "")}
                alive = [a.name for a in list_actors(address=address, filters=[("state", "=", "ALIVE")], limit=1000,
                                                     raise_on_missing_output=False)
                         if (a.name or "").startswith(f"{ACTOR_PREFIX} rl ppo TEST 1h")]
            except Exception as exc:   # the dashboard is still starting
                errors.append(repr(exc))
                lines, alive = set(), []
            if alive:
                boards.update(alive)
                seen_while_training.update(lines)
            done.wait(0.3)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    try:
        algorithm, history = train("ppo", _env_config(), ITERATIONS, want_gpu=False, batch_size=256,
                                   label="ppo TEST 1h")
        algorithm.stop()
    finally:
        done.set()
        poller.join(timeout=30)
    assert len(history) == ITERATIONS
    # read while it trained: the board was alive and iterations were listed before the end
    assert len(boards) == 1, boards
    assert seen_while_training, f"no progress line listed while training ran; state API errors: {errors[-3:]}"
    # afterwards every iteration's line is in Ray's records, with its metrics (task events reach
    # the GCS in batches: the last one may take a moment)
    final: set[str] = set()
    for _ in range(60):
        final = {t.name for t in list_tasks(address=address, filters=[("type", "=", "ACTOR_TASK")], limit=1000,
                                            raise_on_missing_output=False) if LINE.match(t.name or "")}
        if len(final) == ITERATIONS:
            break
        time.sleep(0.5)
    assert sorted(int(LINE.match(n).group(1)) for n in final) == list(range(1, ITERATIONS + 1)), final
