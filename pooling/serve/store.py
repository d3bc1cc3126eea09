"""The workspace's state: rounds, decisions and an append-only audit log in one SQLite file.

``audit`` rows are never updated or deleted (SQLite triggers refuse it); every round, change, package edit and
decision adds one row with who, what, when and the before/after JSON. Rounds keep their inputs (changes, withdrawn
packages), their status and their result, so a restarted server shows every round; a round left ``running`` by a
killed server becomes ``interrupted``. ``withdrawn`` holds the packages the coordinator has taken out of the next
round.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, who TEXT NOT NULL, what TEXT NOT NULL,
    round_id INTEGER, before TEXT, after TEXT);
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit BEGIN SELECT RAISE(ABORT, 'audit is append-only'); END;
CREATE TABLE IF NOT EXISTS rounds (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created_at REAL NOT NULL, created_by TEXT NOT NULL,
    changes TEXT NOT NULL, status TEXT NOT NULL, stage TEXT, finished_at REAL, result TEXT, error TEXT);
CREATE TABLE IF NOT EXISTS decisions (
    round_id INTEGER NOT NULL, amc_id TEXT NOT NULL, user TEXT NOT NULL, decision TEXT NOT NULL,
    comment TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (round_id, amc_id));
CREATE TABLE IF NOT EXISTS revoked (nonce TEXT PRIMARY KEY, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS withdrawn (
    amc_id TEXT NOT NULL, package TEXT NOT NULL, user TEXT NOT NULL, at REAL NOT NULL, PRIMARY KEY (amc_id, package));
"""


class Store:
    """Thread-safe access to the state file ``state_dir/workspace.sqlite``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as db:
            db.executescript(SCHEMA)
            if "withdrawn" not in {r["name"] for r in db.execute("PRAGMA table_info(rounds)")}:
                db.execute("ALTER TABLE rounds ADD COLUMN withdrawn TEXT")  # a state file of the first version
            stale = [r[0] for r in db.execute("SELECT id FROM rounds WHERE status IN ('queued', 'running')")]
        for rid in stale:
            self.finish_round(rid, "interrupted", None, "the server stopped while the round ran", who="server")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        return db

    def _write(self, statements: list[tuple[str, tuple]]) -> int | None:
        with self._lock:
            db = self._connect()
            try:
                db.execute("BEGIN IMMEDIATE")
                last = None
                for sql, args in statements:
                    last = db.execute(sql, args).lastrowid
                db.execute("COMMIT")
                return last
            except BaseException:
                db.execute("ROLLBACK")
                raise
            finally:
                db.close()

    def _read(self, sql: str, args: tuple = ()) -> list[dict]:
        db = self._connect()
        try:
            return [dict(r) for r in db.execute(sql, args)]
        finally:
            db.close()

    # -- audit ----------------------------------------------------------------------------------------------
    def audit(self, who: str, what: str, round_id: int | None = None, before=None, after=None) -> None:
        """Append one audit row (before/after stored as JSON)."""
        self._write([_audit_row(who, what, round_id, before, after)])

    def audit_log(self, limit: int = 500) -> list[dict]:
        """The newest ``limit`` audit rows, newest first, before/after decoded."""
        rows = self._read("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
        for r in rows:
            r["before"] = json.loads(r["before"]) if r["before"] else None
            r["after"] = json.loads(r["after"]) if r["after"] else None
        return rows

    # -- sessions ended by logout ---------------------------------------------------------------------------
    def revoke(self, nonce: str, expires: float) -> None:
        """Remember a logged-out session until it would have expired."""
        self._write([("INSERT OR IGNORE INTO revoked (nonce, expires) VALUES (?, ?)", (nonce, expires))])

    def revoked(self) -> set[str]:
        """Nonces of logged-out sessions not yet expired."""
        return {r["nonce"] for r in self._read("SELECT nonce FROM revoked WHERE expires > ?", (time.time(),))}

    # -- rounds ---------------------------------------------------------------------------------------------
    def new_round(self, who: str, changes: dict, before: dict | None, withdrawn: dict | None = None) -> int:
        """Record a queued round with its limit changes and withdrawn packages (and its audit row); its id."""
        now = time.time()
        withdrawn = withdrawn or {}
        with self._lock:
            db = self._connect()
            try:
                db.execute("BEGIN IMMEDIATE")
                rid = db.execute("INSERT INTO rounds (created_at, created_by, changes, status, stage, withdrawn) "
                                 "VALUES (?,?,?,?,?,?)", (now, who, json.dumps(changes, sort_keys=True), "queued",
                                                          "queued", json.dumps(withdrawn, sort_keys=True))).lastrowid
                db.execute(*_audit_row(who, "round requested", rid, before,
                                       changes | ({"withdrawn_packages": withdrawn} if withdrawn else {})))
                db.execute("COMMIT")
                return int(rid)
            except BaseException:
                db.execute("ROLLBACK")
                raise
            finally:
                db.close()

    def set_stage(self, rid: int, stage: str) -> None:
        """Progress of a running round (shown on its page)."""
        self._write([("UPDATE rounds SET status='running', stage=? WHERE id=?", (stage, rid))])

    def finish_round(self, rid: int, status: str, result: dict | None, error: str | None, who: str = "worker") -> None:
        """Close a round as ``done``, ``failed`` or ``interrupted`` (with its audit row)."""
        summary = None if result is None else {k: result[k] for k in ("pool", "amcs") if k in result}
        self._write([
            ("UPDATE rounds SET status=?, stage=?, finished_at=?, result=?, error=? WHERE id=?",
             (status, status, time.time(), json.dumps(result, sort_keys=True) if result is not None else None, error, rid)),
            _audit_row(who, f"round {status}", rid, None, summary if error is None else {"error": error}),
        ])

    def rounds(self) -> list[dict]:
        """Every round, oldest first, with changes/result decoded and its decisions."""
        rows = self._read("SELECT * FROM rounds ORDER BY id")
        decisions = self._read("SELECT * FROM decisions ORDER BY at")
        for r in rows:
            r["changes"] = json.loads(r["changes"])
            r["withdrawn"] = json.loads(r["withdrawn"]) if r.get("withdrawn") else {}
            r["result"] = json.loads(r["result"]) if r["result"] else None
            r["decisions"] = {d["amc_id"]: d for d in decisions if d["round_id"] == r["id"]}
        return rows

    def round(self, rid: int) -> dict | None:
        """One round (as in :meth:`rounds`) or None."""
        return next((r for r in self.rounds() if r["id"] == rid), None)

    # -- packages -------------------------------------------------------------------------------------------
    def withdrawn(self) -> dict[str, list[str]]:
        """The packages out of the next round: AMC id → sorted package labels."""
        out: dict[str, list[str]] = {}
        for r in self._read("SELECT amc_id, package FROM withdrawn ORDER BY amc_id, package"):
            out.setdefault(r["amc_id"], []).append(r["package"])
        return out

    def set_package(self, who: str, amc_id: str, package: str, withdraw: bool) -> bool:
        """Withdraw a package from the next round (or add it back), with an audit row whose before/after give the
        package's state and the AMC's withdrawn packages; False (and no row) when it already was so."""
        with self._lock:
            db = self._connect()
            try:
                db.execute("BEGIN IMMEDIATE")
                old = sorted(r[0] for r in db.execute("SELECT package FROM withdrawn WHERE amc_id=?", (amc_id,)))
                if (package in old) == withdraw:
                    db.execute("ROLLBACK")
                    return False
                if withdraw:
                    db.execute("INSERT INTO withdrawn (amc_id, package, user, at) VALUES (?,?,?,?)",
                               (amc_id, package, who, time.time()))
                    new = sorted([*old, package])
                else:
                    db.execute("DELETE FROM withdrawn WHERE amc_id=? AND package=?", (amc_id, package))
                    new = [p for p in old if p != package]
                state = lambda out, ids: {"amc_id": amc_id, "package": package, "in_round": not out,  # noqa: E731
                                          "withdrawn": ids}
                db.execute(*_audit_row(who, "package withdrawn" if withdraw else "package added", None,
                                       state(not withdraw, old), state(withdraw, new)))
                db.execute("COMMIT")
                return True
            except BaseException:
                db.execute("ROLLBACK")
                raise
            finally:
                db.close()

    def decide(self, rid: int, amc_id: str, user: str, decision: str, comment: str) -> None:
        """Record (or change) an AMC's decision on a round, with the previous one as the audit's before."""
        old = self._read("SELECT decision, comment, user FROM decisions WHERE round_id=? AND amc_id=?", (rid, amc_id))
        after = {"amc_id": amc_id, "decision": decision, "comment": comment}
        self._write([
            ("INSERT OR REPLACE INTO decisions (round_id, amc_id, user, decision, comment, at) VALUES (?,?,?,?,?,?)",
             (rid, amc_id, user, decision, comment, time.time())),
            _audit_row(user, f"decision: {decision}", rid, old[0] if old else None, after),
        ])


def _audit_row(who: str, what: str, round_id, before, after) -> tuple[str, tuple]:
    def dump(v):
        return (None if v is None else json.dumps(v, sort_keys=True, default=str))
    return ("INSERT INTO audit (at, who, what, round_id, before, after) VALUES (?,?,?,?,?,?)",
            (time.time(), who, what, round_id, dump(before), dump(after)))
