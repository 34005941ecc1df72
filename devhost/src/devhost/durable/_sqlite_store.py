"""A store in one SQLite file: instances survive a restart of the backend."""

from __future__ import annotations

import json
import os
import sqlite3

from devhost.durable._memory_store import MemoryStore
from devhost.durable._state import InstanceState, StartRecord

# An instance's history is its own table, one row per event, appended as the instance runs;
# the instance row holds everything else (small). ``body`` of a row written before this split
# still carries its history: ``_read`` reads either.
_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (instance_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (instance_id, position)
);
CREATE TABLE IF NOT EXISTS start_records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS start_records_by_id ON start_records (instance_id);
"""


class SqliteStore:
    """Each write commits at once (autocommit), so a crash loses at most the write in progress.

    The file is the truth; an in-memory copy of every instance (a ``MemoryStore``) serves the
    reads, so a step neither re-reads nor re-parses the history, and a save writes only the
    instance row and the history events that are new since the last save.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not str(path):
            raise ValueError("SqliteStore needs a file path")
        self.path = os.fspath(path)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        # WAL + NORMAL: durable across a process crash, without an fsync per episode.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._cache = MemoryStore()
        # Per instance: (execution id, events on disk that can no longer change).
        self._persisted: dict[str, tuple[str, int]] = {}
        for (instance_id,) in self._db.execute("SELECT instance_id FROM instances").fetchall():
            state = self._read(instance_id)
            self._cache.save(state)
            self._persisted[instance_id] = (
                state.execution_id,
                min(state.played, len(state.history)),
            )

    def _read(self, instance_id: str) -> InstanceState:
        (body,) = self._db.execute(
            "SELECT body FROM instances WHERE instance_id = ?", (instance_id,)
        ).fetchone()
        head = json.loads(body)
        if "history" in head:  # a row from before history had its own table
            return InstanceState.from_head(head)
        rows = self._db.execute(
            "SELECT body FROM history WHERE instance_id = ? ORDER BY position", (instance_id,)
        ).fetchall()
        return InstanceState.from_head(head, [json.loads(event) for (event,) in rows])

    def load(self, instance_id: str) -> InstanceState | None:
        return self._cache.load(instance_id)

    def save(self, state: InstanceState) -> None:
        iid = state.instance_id
        execution, kept = self._persisted.get(iid, ("", 0))
        previous = self._cache.load(iid)
        if (
            execution != state.execution_id
            or previous is None
            or len(state.history) < kept
            or (kept and state.history[kept - 1] is not previous.history[kept - 1])
        ):
            kept = 0  # a new execution, a rewind or a purge: the history is written afresh
        # Events past ``played`` may still be replaced (marked played): rewrite those.
        self._db.execute("BEGIN")
        try:
            self._db.execute(
                "DELETE FROM history WHERE instance_id = ? AND position >= ?", (iid, kept)
            )
            self._db.executemany(
                "INSERT INTO history (instance_id, position, body) VALUES (?, ?, ?)",
                [
                    (iid, position, json.dumps(state.history[position]))
                    for position in range(kept, len(state.history))
                ],
            )
            self._db.execute(
                "INSERT INTO instances (instance_id, body) VALUES (?, ?) "
                "ON CONFLICT (instance_id) DO UPDATE SET body = excluded.body",
                (iid, json.dumps(state.head())),
            )
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._persisted[iid] = (state.execution_id, state.played)
        self._cache.save(state)

    def delete(self, instance_id: str) -> bool:
        self._db.execute("DELETE FROM history WHERE instance_id = ?", (instance_id,))
        cursor = self._db.execute("DELETE FROM instances WHERE instance_id = ?", (instance_id,))
        self._persisted.pop(instance_id, None)
        self._cache.delete(instance_id)
        return cursor.rowcount > 0

    def list_all(self) -> list[InstanceState]:
        return sorted(self._cache.list_all(), key=lambda state: state.instance_id)

    def add_start_record(self, record: StartRecord) -> None:
        self._db.execute(
            "INSERT INTO start_records (instance_id, body) VALUES (?, ?)",
            (record.instance_id, record.to_json()),
        )

    def start_records(self, instance_id: str) -> list[StartRecord]:
        rows = self._db.execute(
            "SELECT body FROM start_records WHERE instance_id = ? ORDER BY seq", (instance_id,)
        ).fetchall()
        return [StartRecord.from_json(body) for (body,) in rows]

    def close(self) -> None:
        self._db.close()
