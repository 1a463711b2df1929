"""Command line: `python -m app serve | migrate | scan | export-schema | ...`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import warnings
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from app.leaks.scanner import DEFAULT_MAX_FILE_SIZE
from app.settings import MAX_WORKERS, Settings, SettingsError

if TYPE_CHECKING:
    from app.llm_keys.service import RotationReport

# The database, the services and the web stack are imported by the commands that use them:
# `scan --offline` (a pre-commit hook) then starts in a tenth of the time.

log = logging.getLogger("app")

T = TypeVar("T")

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schema.graphql"


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if args.command == "export-schema":
        return _export_schema(Path(args.output))
    if args.command == "generate-encryption-key":
        return _generate_encryption_key()
    if args.command == "scan":
        return _scan(args)
    try:
        settings = Settings.from_env()
    except SettingsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    from app import serving

    serving.configure_process(settings)
    if args.command == "migrate":
        return _migrate(settings)
    if args.command == "rotate-encryption-key":
        return _rotate_encryption_key(settings, batch_size=max(1, args.batch_size))
    return _serve(
        settings,
        host=args.host or settings.host,
        port=args.port or settings.port,
        workers=args.workers or settings.serving.workers,
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m app", description="TrayLinx Keys: project API keys and LLM provider keys."
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = commands.add_parser("serve", help="apply migrations and serve HTTP (uvicorn)")
    serve.add_argument("--host", help="interface to bind (default: TRAYLINX_HOST or 127.0.0.1)")
    serve.add_argument(
        "--port", type=_bounded(1, 65535), help="port (default: TRAYLINX_PORT or 8000)"
    )
    serve.add_argument(
        "--workers",
        type=_bounded(1, MAX_WORKERS),
        help="serving processes sharing the port (default: TRAYLINX_WORKERS or 1)",
    )
    commands.add_parser("migrate", help="apply pending database migrations and exit")
    rotate = commands.add_parser(
        "rotate-encryption-key",
        help="re-encrypt every stored provider secret under the newest key of the keyring",
    )
    rotate.add_argument("--batch-size", type=int, default=100, help="rows per transaction")
    commands.add_parser(
        "generate-encryption-key", help="print a new keyring entry (id:base64) for the keyring"
    )
    _add_scan_parser(commands)
    export = commands.add_parser("export-schema", help="write the GraphQL schema (SDL)")
    export.add_argument("--output", default=str(SCHEMA_PATH), help="file to write (- for stdout)")
    return parser


def _add_scan_parser(commands: Any) -> None:
    scan = commands.add_parser(
        "scan",
        help="find project keys in files, folders, standard input or git history",
        description=(
            "Find TrayLinx project keys (checksum-valid) and say whether each is live, expired, "
            "deleted or unknown. Exit code: 0 no live key, 1 a live key found (with --offline: "
            "any valid key), 2 usage error or database unreachable."
        ),
    )
    scan.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="files, folders (recursive, .git skipped) or - for standard input (default: .); "
        "with --git, repository folders",
    )
    scan.add_argument(
        "--git", action="store_true", help="scan every blob of the repository's history instead"
    )
    scan.add_argument(
        "--offline",
        action="store_true",
        help="do not use the database: report checksum-valid keys as unchecked (exit 1 if any)",
    )
    scan.add_argument(
        "--revoke", action="store_true", help="revoke the live keys found (asks first)"
    )
    scan.add_argument("--yes", action="store_true", help="with --revoke: do not ask")
    scan.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    scan.add_argument(
        "--max-file-size",
        type=_size,
        default=DEFAULT_MAX_FILE_SIZE,
        metavar="BYTES",
        help="skip larger files and blobs (default: 10M; K, M and G suffixes allowed)",
    )


def _size(raw: str) -> int:
    """An argparse type: a size in bytes, with an optional K, M or G (binary) suffix."""
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    text = raw.strip().upper().removesuffix("B").removesuffix("I")
    factor = units.get(text[-1:], 1)
    digits = text[:-1] if text[-1:] in units else text
    try:
        value = int(digits) * factor
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a size such as 10M, got {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1 byte")
    return value


def _scan(args: argparse.Namespace) -> int:
    from app.leaks import scan_command

    options = scan_command.ScanOptions(
        paths=args.paths,
        git=args.git,
        offline=args.offline,
        revoke=args.revoke,
        yes=args.yes,
        json=args.format == "json",
        max_file_size=args.max_file_size,
    )
    return scan_command.run(options, _settings_for_scan)


def _settings_for_scan() -> Settings:
    # Not serving.configure_process(): it imports the web stack for its log format, and this
    # command's messages are its own output. Piccolo's warning before a failed connection is
    # left out as there: the failure is reported in one line.
    warnings.filterwarnings(
        "ignore", message=".*Unable to (connect to database|fetch server version)"
    )
    return Settings.from_env()


def _bounded(minimum: int, maximum: int) -> Callable[[str], int]:
    """An argparse type: a whole number within bounds, or a one-line usage error."""

    def parse(raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {raw!r}") from None
        if not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(f"must be between {minimum} and {maximum}")
        return value

    return parse


def _export_schema(output: Path) -> int:
    from app.graphql.schema import schema

    text = schema.as_str() + "\n"
    if str(output) == "-":
        sys.stdout.write(text)
    else:
        output.write_text(text)
        print(f"wrote {output}")
    return 0


def _migrate(settings: Settings) -> int:
    """Apply migrations and check that the keyring opens every stored secret."""
    from app import db
    from app.clock import SystemClock
    from app.services import Services

    async def run() -> None:
        db.activate(db.make_engine(settings.database))
        await db.migrate()
        services = Services.build(settings, SystemClock())
        await services.llm_keys.check_keyring()
        await services.webhooks.check_keyring()

    if _run_or_explain(run()) is _FAILED:
        return 1
    print(f"migrations applied ({settings.database.engine})")
    return 0


_FAILED = object()


def _run_or_explain(work: Coroutine[Any, Any, T]) -> T | object:
    """Run a command's async work; an operator-facing failure becomes one line on stderr."""
    from app import db
    from app.security.crypto import MissingEncryptionKey

    try:
        return asyncio.run(work)
    except db.DatabaseError as error:
        print(f"error: {error}", file=sys.stderr)
    except MissingEncryptionKey as error:
        print(
            f"error: stored provider keys are encrypted with key id {error.key_id!r}, which "
            "TRAYLINX_ENCRYPTION_KEYS does not contain; add it back (older keys go after the "
            "newest)",
            file=sys.stderr,
        )
    return _FAILED


def _rotate_encryption_key(settings: Settings, *, batch_size: int) -> int:
    from app import db
    from app.clock import SystemClock
    from app.llm_keys.service import RotationReport
    from app.services import Services

    async def run() -> RotationReport:
        db.activate(db.make_engine(settings.database))
        await db.start()
        try:
            services = Services.build(settings, SystemClock())
            report = await services.llm_keys.rotate_encryption(
                batch_size=batch_size,
                on_batch=lambda done: print(f"re-encrypted {done} so far", flush=True),
            )
            resealed = await services.webhooks.rotate_encryption()
            if resealed:
                print(f"re-encrypted {resealed} webhook signing secrets", flush=True)
            return report
        finally:
            await db.stop()

    report = _run_or_explain(run())
    if not isinstance(report, RotationReport):
        return 1
    print(
        f"done: {report.rotated} re-encrypted, {report.already_current} already under "
        f"{report.newest_key_id!r}"
    )
    return 0


def _generate_encryption_key() -> int:
    from app.clock import SystemClock
    from app.security.crypto import EncryptionKey

    key_id = "k" + SystemClock().now().strftime("%Y%m%d%H%M")
    print(EncryptionKey.generate(key_id).encode())
    return 0


def _serve(settings: Settings, *, host: str, port: int, workers: int) -> int:
    # Fail before binding the port, with one line, when the database is not usable; and migrate
    # once, before any worker starts.
    if _migrate(settings) != 0:
        return 1
    log.info(
        "serving on http://%s:%s with %d worker%s (GraphQL at /graphql, %s)",
        host,
        port,
        workers,
        "" if workers == 1 else "s",
        settings.env.value,
    )
    from app import serving

    serving.run(settings, host=host, port=port, workers=workers)
    return 0
