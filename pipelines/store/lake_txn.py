"""Commits of the Parquet lake: one write, whatever partition files it touches, lands whole or
not at all.

A write first records its plan in ``<root>/_txn/<id>.pending`` (the partition files it may
change), stages each new file under a temporary name beside its target (fsynced), then commits by
renaming the journal to ``<id>.commit`` with the exact actions (rename a temporary file over its
target, or remove a target). That rename is the commit point. The actions are then applied and
the journal removed.

Recovery runs when a store opens, before every write, and before a read that finds a committed
journal: a committed journal is rolled forward (its actions are idempotent), a pending one is
rolled back (its temporary files are removed). A writer killed at any instant therefore leaves
the old data or the new, never a mix.

Locks (``fcntl.flock``, released by the kernel when a process dies): ``.writer.lock`` is held
exclusively by a writer for its whole write, so writers take turns; ``.apply.lock`` is held
exclusively while a commit is applied and shared by readers, so a reader never sees half of one.
"""

from __future__ import annotations

import fcntl
import json
import os
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pyarrow as pa
import pyarrow.parquet as pq

TXN_DIR = "_txn"


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# files written and synced at once by one commit: an fsync waits for the disk, and the filesystem
# commits concurrent ones together (a live batch of 100 symbols stages 100 files)
IO_THREADS = 8


def fsync_dirs(paths) -> None:
    """fsync each folder of ``paths``, concurrently."""
    paths = list(paths)
    if len(paths) <= 1:
        for d in paths:
            fsync_dir(d)
        return
    with ThreadPoolExecutor(min(IO_THREADS, len(paths))) as pool:
        list(pool.map(fsync_dir, paths))


def _write_json(path: Path, payload: object) -> None:
    with open(path, "w") as fh:
        json.dump(payload, fh)
        fh.flush()
        os.fsync(fh.fileno())


class Commit:
    """One write's staged files; :meth:`apply` makes them visible together."""

    def __init__(self, lake: "LakeTxn", targets: list[Path]) -> None:
        self.lake, self.id = lake, uuid.uuid4().hex
        self.targets = targets
        self.actions: list[dict[str, str | None]] = []
        self.pending = lake.dir / f"{self.id}.pending"
        _write_json(self.pending, {"targets": [lake.rel(t) for t in targets]})
        fsync_dir(lake.dir)

    def tmp_for(self, target: Path) -> Path:
        return tmp_name(target, self.id)

    def stage(self, target: Path, table: pa.Table | None) -> None:
        """The new content of ``target`` (None: the target is removed)."""
        self.stage_many([(target, table)])

    def stage_many(self, items: list[tuple[Path, pa.Table | None]]) -> None:
        """:meth:`stage` for many targets, their files written and synced concurrently."""
        writes = []
        for target, table in items:
            if table is None:
                self.actions.append({"target": self.lake.rel(target), "tmp": None})
                continue
            tmp = self.tmp_for(target)
            writes.append((tmp, table))
            self.actions.append({"target": self.lake.rel(target), "tmp": self.lake.rel(tmp)})
        if len(writes) == 1:
            _write_synced(*writes[0])
        elif writes:
            with ThreadPoolExecutor(min(IO_THREADS, len(writes))) as pool:
                list(pool.map(lambda w: _write_synced(*w), writes))

    def commit(self) -> Path:
        """The commit point: after this rename the write is durable and recovery finishes it."""
        fsync_dirs({(self.lake.root / str(a["target"])).parent for a in self.actions if a["tmp"] is not None})
        staged = self.lake.dir / f"{self.id}.actions"
        _write_json(staged, {"actions": self.actions})
        committed = self.lake.dir / f"{self.id}.commit"
        os.replace(staged, committed)
        fsync_dir(self.lake.dir)
        return committed

    def apply(self) -> None:
        """Commit, then make the staged files visible (readers wait for the renames)."""
        committed = self.commit()
        with self.lake.flock(".apply.lock", fcntl.LOCK_EX):
            self.lake.roll_forward(committed)
        self.pending.unlink()
        fsync_dir(self.lake.dir)


def _write_synced(path: Path, table: pa.Table) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, path, compression="zstd")
    with open(path, "rb") as fh:
        os.fsync(fh.fileno())


def tmp_name(target: Path, txn_id: str) -> Path:
    return target.with_name(f".{target.name}.{txn_id}.tmp")


class LakeTxn:
    """Journal, locks and recovery of one lake root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / TXN_DIR
        self.dir.mkdir(parents=True, exist_ok=True)

    def rel(self, path: Path) -> str:
        return str(path.relative_to(self.root))

    @contextmanager
    def flock(self, name: str, mode: int) -> Iterator[None]:
        with open(self.dir / name, "a+") as fh:
            fcntl.flock(fh, mode)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    @contextmanager
    def writing(self, targets: list[Path]) -> Iterator[Commit]:
        """Exclusive write; a commit not applied by the caller is rolled back."""
        with self.flock(".writer.lock", fcntl.LOCK_EX):
            self._recover()
            commit = Commit(self, targets)
            try:
                yield commit
            finally:
                if commit.pending.exists():
                    self.roll_back(commit.pending)

    @contextmanager
    def reading(self) -> Iterator[None]:
        """A consistent view: no commit is half applied while the caller reads."""
        if any(self.dir.glob("*.commit")):
            self.recover()
        with self.flock(".apply.lock", fcntl.LOCK_SH):
            yield

    def recover(self) -> bool:
        """Finish or undo what a dead writer left; returns False (and does nothing) while a live
        writer holds the lake, since it finishes its own commit."""
        with open(self.dir / ".writer.lock", "a+") as fh:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            try:
                self._recover()
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
        return True

    def _recover(self) -> None:
        """Under the writer lock."""
        for journal in sorted(self.dir.glob("*.commit")):
            with self.flock(".apply.lock", fcntl.LOCK_EX):
                self.roll_forward(journal)
        for journal in sorted(self.dir.glob("*.pending")):
            self.roll_back(journal)
        for staged in self.dir.glob("*.actions"):
            staged.unlink()

    def roll_forward(self, journal: Path) -> None:
        actions = json.loads(journal.read_text())["actions"]
        dirs: set[Path] = set()
        for a in actions:
            target = self.root / a["target"]
            if a["tmp"] is None:
                target.unlink(missing_ok=True)
            elif (self.root / a["tmp"]).exists():
                os.replace(self.root / a["tmp"], target)
            dirs.add(target.parent)
        fsync_dirs(d for d in dirs if d.exists())
        journal.unlink()
        fsync_dir(self.dir)

    def roll_back(self, journal: Path) -> None:
        try:
            targets = json.loads(journal.read_text())["targets"]
        except (OSError, ValueError, KeyError):
            targets = []  # torn plan: nothing was staged before it was complete
        txn_id = journal.name.split(".", 1)[0]
        if (self.dir / f"{txn_id}.commit").exists():
            targets = []  # committed: its files are rolled forward, not removed
        for t in targets:
            tmp_name(self.root / t, txn_id).unlink(missing_ok=True)
        journal.unlink(missing_ok=True)
        fsync_dir(self.dir)
