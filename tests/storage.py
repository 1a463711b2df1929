"""What a database holds at rest, as bytes: to prove secrets are not in it."""

from __future__ import annotations

import subprocess

from app.settings import Settings


def database_bytes(settings: Settings) -> bytes:
    """The SQLite file (with its WAL) or a pg_dump of the PostgreSQL database."""
    if settings.database.engine == "sqlite":
        path = settings.database.sqlite_path
        files = [path, path.with_name(path.name + "-wal")]
        # Read by another process: closing a descriptor of the file here would drop every POSIX
        # lock this process's SQLite connections hold on it, and the usage writer process could
        # then take the database for its last user and checkpoint the WAL away under them.
        read = subprocess.run(
            ["cat", *(str(f) for f in files if f.exists())],
            capture_output=True,
            check=True,
            timeout=60,
        )
        return read.stdout
    config = settings.database.postgres_config()
    dump = subprocess.run(
        [
            "pg_dump",
            "-h",
            str(config["host"]),
            "-p",
            str(config["port"]),
            "-U",
            str(config["user"]),
            str(config["database"]),
        ],
        capture_output=True,
        check=True,
        timeout=60,
    )
    return dump.stdout
