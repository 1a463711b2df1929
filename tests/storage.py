"""What a database holds at rest, as bytes: to prove secrets are not in it."""

from __future__ import annotations

import subprocess

from app.settings import Settings


def database_bytes(settings: Settings) -> bytes:
    """The SQLite file (with its WAL) or a pg_dump of the PostgreSQL database."""
    if settings.database.engine == "sqlite":
        path = settings.database.sqlite_path
        files = [path, path.with_name(path.name + "-wal")]
        return b"".join(f.read_bytes() for f in files if f.exists())
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
