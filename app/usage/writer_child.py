"""The usage writer process: `python -P -m app.usage.writer_child`, started by `ProcessWriter`.

It takes its reply pipe and its signals before importing anything else: an import that printed
would otherwise write into the replies, and a Ctrl+C to the process group while it starts would
end it.
"""

import os
import signal
import sys

if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # Replies get a descriptor of their own; whatever else is printed goes to stderr.
    replies = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    from app.usage.writer import serve

    serve(sys.stdin.buffer, replies)
