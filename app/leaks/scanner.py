"""Finding project keys in files, folders, standard input and a git repository's history.

Nothing here touches the database: a match is a string of the key's shape whose checksum holds
(`tokens.parse_project_key`), so lookalikes and mistyped keys are not reported. What each key is
(live, deleted, ...) is `LeakService.statuses`' business; `scan_command` puts the two together.

Speed: data is read in large chunks and searched as bytes; a chunk without `tlx_` costs one
substring search, and line numbers are counted only up to the matches.

What cannot be scanned is skipped and counted, never fatal: binary data (a NUL byte in the first
8 KiB), files over the size limit, files that cannot be read (permission denied, dangling
symlinks, files gone since the folder was listed) and, inside folders, anything that is not a
regular file (FIFOs, sockets, devices). Symlinks to folders are not followed (no loops).
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from app.security import tokens

_ID = tokens.KEY_ID_LENGTH
_REST = tokens.SECRET_LENGTH + tokens.CHECKSUM_LENGTH
# A key is one whole word: not preceded or followed by another word character, so a key-shaped
# run inside a longer token is not misread as a key. The pattern starts with the literal prefix
# and checks the byte before it afterwards: a leading look-behind would keep the regex engine
# from skipping ahead to each `tlx_` (20 MB/s instead of 400 on text full of `tlx_` words).
KEY_PATTERN = re.compile(
    rb"tlx_(?<![0-9A-Za-z_]tlx_)[0-9A-Za-z]{%d}_[0-9A-Za-z]{%d}(?![0-9A-Za-z_])" % (_ID, _REST)
)
PREFIX = tokens.PROJECT_KEY_PREFIX.encode()
KEY_LENGTH = tokens.PROJECT_KEY_LENGTH
# A chunk's last bytes are searched again with the next chunk: a key, and the byte on each side
# of it, may straddle the two.
_OVERLAP = KEY_LENGTH + 1
CHUNK_SIZE = 4 * 1024 * 1024
BINARY_SNIFF = 8 * 1024
DEFAULT_MAX_FILE_SIZE = 10 * 1024 * 1024
STDIN = "<stdin>"


class ScanError(Exception):
    """The scan cannot run as asked (no such path, not a git repository); the message says why."""


@dataclass(frozen=True, order=True)
class Found:
    """One checksum-valid key at one place. The key itself is kept only to look up its status
    and act on it; it is left out of the repr and must never be printed."""

    source: str
    line: int
    # Orders several keys on one line; counted from the start of the chunk read when a line is
    # longer than a chunk (4 MiB), so it is not shown.
    column: int
    key_id: str
    token: str = field(repr=False, compare=False)

    @property
    def place(self) -> str:
        return f"{self.source}:{self.line}"

    @property
    def start(self) -> str:
        return tokens.key_start(self.key_id)


@dataclass
class Tally:
    """What was read and what was skipped, for the closing summary."""

    files: int = 0
    bytes: int = 0
    binary: int = 0
    too_large: int = 0
    unreadable: int = 0
    special: int = 0

    @property
    def skipped(self) -> dict[str, int]:
        return {
            "binary": self.binary,
            "tooLarge": self.too_large,
            "unreadable": self.unreadable,
            "notRegular": self.special,
        }


@dataclass
class Scan:
    found: list[Found] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)


# --- Bytes ---------------------------------------------------------------------------------


def keys_in(data: bytes, *, start: int = 0, end: int | None = None) -> Iterator[tuple[int, str]]:
    """(offset, key) of each checksum-valid key starting in data[start:end]."""
    if PREFIX not in data:
        return
    limit = len(data) if end is None else end
    for match in KEY_PATTERN.finditer(data, start):
        offset = match.start()
        if offset >= limit:
            return
        token = match.group().decode("ascii")
        try:
            tokens.parse_project_key(token)
        except tokens.MalformedProjectKey:
            continue
        yield offset, token


def is_binary(head: bytes) -> bool:
    return b"\0" in head[:BINARY_SNIFF]


def scan_stream(stream: BinaryIO, source: str, scan: Scan) -> None:
    """Scan a stream of any length chunk by chunk; counts it as one file (or one binary skip)."""
    carry = b""
    # Lines ended before `carry`, and how many of carry's first bytes were searched already.
    lines_before = 0
    searched = 0
    first = True
    total = 0
    while True:
        chunk = stream.read(CHUNK_SIZE)
        if first and is_binary(chunk):
            scan.tally.binary += 1
            return
        first = False
        total += len(chunk)
        data = carry + chunk if carry else chunk
        final = not chunk
        # A key starting after `decided` may still go on (or be followed by a word byte) in the
        # next chunk.
        decided = len(data) if final else len(data) - KEY_LENGTH
        _collect(data, searched, decided, lines_before, source, scan)
        if final:
            break
        cut = max(decided - 1, 0)  # keep the byte before the first undecided key
        lines_before += data.count(b"\n", 0, cut)
        carry = data[cut:]
        searched = max(decided - cut, 0)
    scan.tally.files += 1
    scan.tally.bytes += total


def _collect(data: bytes, start: int, end: int, lines_before: int, source: str, scan: Scan) -> None:
    line, counted_to = lines_before + 1, 0
    for offset, token in keys_in(data, start=start, end=end):
        line += data.count(b"\n", counted_to, offset)
        counted_to = offset
        column = offset - (data.rfind(b"\n", 0, offset) + 1) + 1
        key_id = token[len(tokens.PROJECT_KEY_PREFIX) : len(tokens.PROJECT_KEY_PREFIX) + _ID]
        scan.found.append(Found(source, line, column, key_id, token))


def scan_bytes(data: bytes, source: str, scan: Scan) -> None:
    """Scan one whole buffer (a git blob): counts it as one file (or one binary skip)."""
    if is_binary(data):
        scan.tally.binary += 1
        return
    _collect(data, 0, len(data), 0, source, scan)
    scan.tally.files += 1
    scan.tally.bytes += len(data)


# --- Files and folders ---------------------------------------------------------------------


def scan_paths(paths: Iterable[str], scan: Scan, *, max_file_size: int) -> None:
    """Files, folders (recursively, without `.git` folders) and `-` for standard input."""
    for path in paths:
        if path == "-":
            scan_stream(sys.stdin.buffer, STDIN, scan)
        elif os.path.isdir(path):  # a symlink named on the command line is followed
            _scan_folder(path, scan, max_file_size)
        elif os.path.lexists(path):
            _scan_file(path, scan, max_file_size, named=True)
        else:
            raise ScanError(f"{path}: no such file or folder")


def _scan_folder(root: str, scan: Scan, max_file_size: int) -> None:
    def unreadable(_error: OSError) -> None:
        scan.tally.unreadable += 1

    for folder, subfolders, files in os.walk(root, onerror=unreadable):
        # Walked in name order so the files are counted the same way on every run; symlinks to
        # folders are listed as folders but not entered (os.walk does not follow them).
        subfolders[:] = sorted(name for name in subfolders if name != ".git")
        for name in sorted(files):
            _scan_file(os.path.normpath(os.path.join(folder, name)), scan, max_file_size)


def _scan_file(path: str, scan: Scan, max_file_size: int, *, named: bool = False) -> None:
    """A regular file within the size limit is scanned. A FIFO or device named on the command
    line (`scan <(git diff)`) is read as a stream; found inside a folder, it is skipped."""
    try:
        info = os.stat(path)
    except OSError:
        scan.tally.unreadable += 1
        return
    regular = stat.S_ISREG(info.st_mode)
    if not regular and not (named and not stat.S_ISDIR(info.st_mode)):
        scan.tally.special += 1
        return
    if regular and info.st_size > max_file_size:
        scan.tally.too_large += 1
        return
    try:
        with open(path, "rb") as stream:
            scan_stream(stream, path, scan)
    except OSError:
        scan.tally.unreadable += 1


# --- Git history ---------------------------------------------------------------------------


def scan_git(repository: str, scan: Scan, *, max_file_size: int) -> None:
    """Every blob reachable from any ref (each once), and every commit message. A key in a blob is
    placed as `path@<commit>`: a path the blob had and the first commit that added it."""
    _check_repository(repository)
    wanted: list[tuple[str, str]] = []  # (sha, source)
    paths: dict[str, str] = {}
    for sha, kind, size, path in _reachable_objects(repository):
        if kind not in ("blob", "commit"):
            continue
        if size > max_file_size:
            scan.tally.too_large += 1
            continue
        wanted.append((sha, sha if kind == "blob" else f"commit message@{sha[:12]}"))
        if kind == "blob":
            paths[sha] = path
    for (_, source), content in zip(wanted, _contents(repository, wanted), strict=True):
        scan_bytes(content, source, scan)
    places: dict[str, str] = {}
    for found in scan.found:
        if found.source in paths and found.source not in places:
            places[found.source] = _blob_place(repository, found.source, paths[found.source])
    scan.found[:] = [
        Found(places.get(f.source, f.source), f.line, f.column, f.key_id, f.token)
        for f in scan.found
    ]


def _git(repository: str, *args: str, stdin: bytes = b"") -> bytes:
    try:
        done = subprocess.run(
            ["git", "-C", repository, *args], input=stdin, capture_output=True, check=False
        )
    except FileNotFoundError:
        raise ScanError("git is not installed (or not on PATH)") from None
    if done.returncode != 0:
        error = done.stderr.decode(errors="replace").strip()
        raise ScanError(f"{repository}: git {args[0]} failed: {error}")
    return done.stdout


def _check_repository(repository: str) -> None:
    if not os.path.isdir(repository):
        raise ScanError(f"{repository}: no such folder")
    try:
        _git(repository, "rev-parse", "--git-dir")
    except ScanError as error:
        if "not installed" in str(error):
            raise
        raise ScanError(f"{repository}: not a git repository") from None


def _reachable_objects(repository: str) -> Iterator[tuple[str, str, int, str]]:
    """(sha, type, size, path) of every object reachable from every ref."""
    listing = _git(repository, "rev-list", "--all", "--objects")
    checked = _git(
        repository,
        "cat-file",
        "--batch-check=%(objectname) %(objecttype) %(objectsize) %(rest)",
        stdin=listing,
    )
    for line in checked.decode(errors="replace").splitlines():
        sha, kind, size, *path = line.split(" ", 3)
        if kind != "missing":
            yield sha, kind, int(size), path[0] if path else "?"


def _contents(repository: str, wanted: list[tuple[str, str]]) -> Iterator[bytes]:
    """The objects' contents, in order, through one `git cat-file --batch`."""
    process = subprocess.Popen(
        ["git", "-C", repository, "cat-file", "--batch"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdin is not None
    assert process.stdout is not None
    requests = b"".join(sha.encode() + b"\n" for sha, _ in wanted)

    def feed(stdin: BinaryIO) -> None:
        try:
            with stdin:
                stdin.write(requests)
        except OSError:  # git was stopped before it read everything (see below)
            pass

    # Written from a thread: git answers while it reads, and both pipes have small buffers.
    writer = threading.Thread(target=feed, args=(process.stdin,), daemon=True)
    writer.start()
    try:
        for _ in wanted:
            header = process.stdout.readline().split()
            if len(header) < 3:  # "<sha> missing"
                yield b""
                continue
            content = process.stdout.read(int(header[2]))
            process.stdout.read(1)  # the newline after each object
            yield content
    finally:
        # All read, or the reading was abandoned: either way git has nothing more to give.
        process.stdout.close()
        process.kill()
        process.wait()
        writer.join()


def _blob_place(repository: str, blob: str, path: str) -> str:
    """`path@<commit>` for the oldest commit that added the blob (`path@<blob>` if none did)."""
    log = _git(repository, "log", "--all", "--format=%h", f"--find-object={blob}")
    commits = log.decode().split()
    return f"{path}@{commits[-1]}" if commits else f"{path}@{blob[:12]}"
