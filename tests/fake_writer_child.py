"""A usage writer process that answers every batch with bytes that are not MessagePack."""

import sys
from typing import BinaryIO


def _read(stream: BinaryIO) -> bytes | None:
    header = stream.read(4)
    return None if len(header) < 4 else stream.read(int.from_bytes(header, "big"))


if __name__ == "__main__":
    requests, replies = sys.stdin.buffer, sys.stdout.buffer
    _read(requests)  # the configuration
    while _read(requests) is not None:
        garbage = b"\xc1\xc1"  # 0xc1 is the one byte MessagePack never uses
        replies.write(len(garbage).to_bytes(4, "big") + garbage)
        replies.flush()
