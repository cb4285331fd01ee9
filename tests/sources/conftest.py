"""Replay-server fixtures (tests/replay) for these tests."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.replay.fixtures import replay, sources_cfg  # noqa: E402,F401
