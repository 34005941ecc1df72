"""A store in one SQLite file: instances survive a restart of the backend."""

from __future__ import annotations

import os
import sqlite3

from devhost.durable._state import InstanceState, StartRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (instance_id TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS start_records (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS start_records_by_id ON start_records (instance_id);
"""


class SqliteStore:
    """Each write commits at once (autocommit), so a crash loses at most the write in progress."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        if not str(path):
            raise ValueError("SqliteStore needs a file path")
        self.path = os.fspath(path)
        self._db = sqlite3.connect(self.path, isolation_level=None)
        # WAL + NORMAL: durable across a process crash, without an fsync per episode.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def load(self, instance_id: str) -> InstanceState | None:
        row = self._db.execute(
            "SELECT body FROM instances WHERE instance_id = ?", (instance_id,)
        ).fetchone()
        return None if row is None else InstanceState.from_json(row[0])

    def save(self, state: InstanceState) -> None:
        self._db.execute(
            "INSERT INTO instances (instance_id, body) VALUES (?, ?) "
            "ON CONFLICT (instance_id) DO UPDATE SET body = excluded.body",
            (state.instance_id, state.to_json()),
        )

    def delete(self, instance_id: str) -> bool:
        cursor = self._db.execute("DELETE FROM instances WHERE instance_id = ?", (instance_id,))
        return cursor.rowcount > 0

    def list_all(self) -> list[InstanceState]:
        rows = self._db.execute("SELECT body FROM instances ORDER BY instance_id").fetchall()
        return [InstanceState.from_json(body) for (body,) in rows]

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
