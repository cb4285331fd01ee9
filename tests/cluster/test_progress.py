"""RL training and Tune searches report their progress through Ray's own records: while the work
runs in the driver, the state API (what the dashboard's Jobs page shows) lists its progress board
and one named report per iteration or trial result, with the metrics so far."""

from __future__ import annotations

import re
import threading
import time

import numpy as np
import pytest
from ray.util.state import list_actors, list_tasks

from cluster.progress import ACTOR_PREFIX
from models.rl.rllib_agents import train
from models.training.dataset import make_dataset
from models.tuning.search import TuneSettings, run_search
from pipelines.features.catalog import feature_set
from pipelines.sources.sample import sample_bars

ITERATIONS = 12
LINE = re.compile(rf"^rl ppo TEST 1h iteration (\d+)/{ITERATIONS} .*env_steps=\d+")
TRIALS = 2
TUNE_LINE = re.compile(rf"^tune xgboost SPX trial (\S+) (iteration \d+|finished) \(done (\d)/{TRIALS}\)")


def _env_config():
    rng = np.random.default_rng(0)
    T = 400
    return {"features": rng.normal(size=(T, 3)).astype("float32"),
            "close": 100 * np.exp(np.cumsum(rng.normal(0, 0.01, T))),
            "window": 8, "episode_length": 64, "end": 300}


class StatePoll:
    """Polls the state API in the background for report lines matching ``pattern``, keeping the
    lines seen while a board whose name starts with ``board`` was alive."""

    def __init__(self, address: str, pattern: re.Pattern, board: str) -> None:
        self.address, self.pattern, self.board = address, pattern, board
        self.seen_while_running: set[str] = set()
        self.boards: set[str] = set()
        self.errors: list[str] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._poll, daemon=True)

    def lines(self) -> set[str]:
        tasks = list_tasks(address=self.address, filters=[("type", "=", "ACTOR_TASK")], limit=1000,
                           raise_on_missing_output=False)
        return {t.name for t in tasks if self.pattern.match(t.name or "")}

    def _poll(self) -> None:
        while not self.done.is_set():
            try:
                lines = self.lines()
                alive = [a.name for a in list_actors(address=self.address, filters=[("state", "=", "ALIVE")],
                                                     limit=1000, raise_on_missing_output=False)
                         if (a.name or "").startswith(f"{ACTOR_PREFIX} {self.board}")]
            except Exception as exc:   # the dashboard is still starting
                self.errors.append(repr(exc))
                lines, alive = set(), []
            if alive:
                self.boards.update(alive)
                self.seen_while_running.update(lines)
            self.done.wait(0.3)

    def __enter__(self) -> "StatePoll":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.done.set()
        self.thread.join(timeout=30)

    def final(self, until) -> set[str]:
        """The matching lines once ``until(lines)`` holds (task events reach the GCS in batches:
        the last ones may take a moment), or after 30 s."""
        lines: set[str] = set()
        for _ in range(60):
            lines = self.lines()
            if until(lines):
                break
            time.sleep(0.5)
        return lines


@pytest.mark.slow
@pytest.mark.dashboard
def test_rl_and_tune_progress_is_read_back_through_the_state_api_while_they_run(two_nodes, tmp_path):
    _, _, port = two_nodes
    address = f"http://127.0.0.1:{port}"
    # the state API is the dashboard's own (GCS records); no job agent needed, so no wait_ready:
    # a poll before the dashboard answers just finds nothing yet
    with StatePoll(address, LINE, "rl ppo TEST 1h") as rl:
        algorithm, history = train("ppo", _env_config(), ITERATIONS, want_gpu=False, batch_size=256,
                                   label="ppo TEST 1h")
        algorithm.stop()
    assert len(history) == ITERATIONS
    # read while it trained: the board was alive and iterations were listed before the end
    assert len(rl.boards) == 1, rl.boards
    assert rl.seen_while_running, f"no progress line listed while training ran; state API errors: {rl.errors[-3:]}"
    # afterwards every iteration's line is in Ray's records, with its metrics
    final = rl.final(lambda lines: len(lines) == ITERATIONS)
    assert sorted(int(LINE.match(n).group(1)) for n in final) == list(range(1, ITERATIONS + 1)), final

    # a Tune search: each trial's results and its end are in Ray's records, with the metrics
    bars, _ = sample_bars("SPX", 320)
    ds = make_dataset(bars, feature_set("core"), horizon=1)
    with StatePoll(address, TUNE_LINE, "tune xgboost SPX") as tn:
        outcome = run_search(ds, "xgboost", TuneSettings(trials=TRIALS, scheduler="fifo", max_concurrent=1),
                             tmp_path / "tune", fixed={"n_estimators": 50})
    assert len(outcome.trials) == TRIALS
    # the board was listed while the search ran (a search of small trials may end before the
    # first batch of its report tasks reaches the GCS, so its lines are checked once it is done)
    assert len(tn.boards) == 1, tn.boards
    final = tn.final(lambda lines: sum(" finished " in n for n in lines) == TRIALS)
    finished = {TUNE_LINE.match(n).group(1) for n in final if " finished " in n}
    assert len(finished) == TRIALS, final
    assert max(int(TUNE_LINE.match(n).group(3)) for n in final) == TRIALS
    # the metrics so far ride on the lines
    assert all("val_mse=" in n for n in final if " finished " in n), final
