"""USERS.yaml: the users of ``pooling serve`` and their argon2 password hashes.

The file is a YAML mapping ``users: [{name, role, amc_id?, password_hash}]``; ``role`` is ``coordinator`` or
``amc`` (then ``amc_id`` names one AMC of the scenario). :func:`add_user` writes it atomically.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from pooling.errors import InputError
from pooling.io import write_atomic

ROLES = ("amc", "coordinator")
_HASHER = PasswordHasher()
#: a hash to verify against when the user is unknown, so that a wrong name costs as long as a wrong password
_DUMMY_HASH = _HASHER.hash("not a password")


@dataclass(frozen=True)
class User:
    """One user: ``amc_id`` is set exactly when ``role`` is ``amc``."""

    name: str
    role: str
    amc_id: str | None
    password_hash: str

    def as_public(self) -> dict:
        """The user as shown by the API (never the hash)."""
        return {"name": self.name, "role": self.role, "amc_id": self.amc_id}


def _read(path: Path) -> list[dict]:
    if not path.exists():
        return []
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise InputError(f"{path}: not a valid users file ({e})") from None
    users = doc.get("users") if isinstance(doc, dict) else None
    if not isinstance(users, list):
        raise InputError(f"{path}: expected a mapping with a list 'users'")
    return users


def load_users(path: Path, amc_ids: set[str] | None = None) -> dict[str, User]:
    """The users of ``path`` by name; every problem (missing key, unknown role or AMC, duplicate) in one error."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: users file not found (write one with `pooling users add`)")
    problems, users = [], {}
    for i, row in enumerate(_read(path), start=1):
        if not isinstance(row, dict):
            problems.append(f"user {i}: not a mapping")
            continue
        name, role, amc, h = row.get("name"), row.get("role"), row.get("amc_id"), row.get("password_hash")
        where = f"user {i} ({name!r})"
        if not isinstance(name, str) or not name.strip():
            problems.append(f"{where}: name is missing")
        elif name in users:
            problems.append(f"{where}: name appears twice")
        if role not in ROLES:
            problems.append(f"{where}: role {role!r} is not one of {', '.join(ROLES)}")
        if role == "amc" and (amc_ids is not None and str(amc) not in amc_ids):
            problems.append(f"{where}: amc_id {amc!r} is not an AMC of the scenario ({', '.join(sorted(amc_ids))})")
        if not isinstance(h, str) or not h.startswith("$argon2"):
            problems.append(f"{where}: password_hash is not an argon2 hash")
        if isinstance(name, str) and name.strip():
            users[name] = User(name, str(role), str(amc) if role == "amc" else None, str(h))
    if problems:
        raise InputError(f"{path}: {len(problems)} problem(s):\n  - " + "\n  - ".join(problems))
    return users


def add_user(path: Path, name: str, role: str, password: str, amc_id: str | None = None,
             amc_ids: set[str] | None = None) -> User:
    """Add (or replace) user ``name`` in ``path`` with an argon2 hash of ``password``; written atomically.

    Raises :class:`InputError` for an unknown role, a missing/unknown AMC, an empty password or name.
    """
    path = Path(path)
    problems = []
    if not name or not name.strip() or any(c.isspace() for c in name):
        problems.append(f"--name {name!r}: give a name without spaces")
    if role not in ROLES:
        problems.append(f"--role {role!r}: not one of {', '.join(ROLES)}")
    if role == "amc" and not amc_id:
        problems.append("--amc: an amc user needs the id of its AMC")
    if role == "coordinator" and amc_id:
        problems.append("--amc: a coordinator is bound to no AMC")
    if role == "amc" and amc_id and amc_ids is not None and amc_id not in amc_ids:
        problems.append(f"--amc {amc_id!r}: not an AMC of the scenario ({', '.join(sorted(amc_ids))})")
    if len(password) < 8:
        problems.append("password: at least 8 characters")
    if problems:
        raise InputError("cannot add the user:\n  - " + "\n  - ".join(problems))
    rows = [r for r in _read(path) if not (isinstance(r, dict) and r.get("name") == name)]
    user = User(name, role, amc_id if role == "amc" else None, _HASHER.hash(password))
    entry = {"name": name, "role": role}
    if user.amc_id:
        entry["amc_id"] = user.amc_id
    entry["password_hash"] = user.password_hash
    rows.append(entry)
    text = yaml.safe_dump({"users": rows}, allow_unicode=True, sort_keys=False)
    write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    return user


def verify(user: User | None, password: str) -> bool:
    """Whether ``password`` matches ``user``'s hash (constant work when the user is unknown)."""
    try:
        return _HASHER.verify(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False
