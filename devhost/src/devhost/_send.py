"""``python -m devhost send QUEUE MESSAGE``: put one message on a running local host's queue.

It goes through the host (``POST /admin/devhost/queues/{queue}/messages``), so the message is
encoded as the host's ``messageEncoding`` says, lands in whichever backing the host uses, and
wakes the queue's listener at once. ``-`` as MESSAGE reads it from standard input.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Sequence

DEFAULT_URL = "http://127.0.0.1:7071"


def build_send_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devhost send",
        description="Put one message on a queue of a running local host (python -m devhost).",
    )
    parser.add_argument("queue", help="the queue name, as in queue_name= (case is ignored)")
    parser.add_argument("message", help="the message body (text); - reads standard input")
    parser.add_argument(
        "--url", default=DEFAULT_URL, help=f"the running host (default {DEFAULT_URL})"
    )
    return parser


def send_main(argv: Sequence[str]) -> int:
    arguments = build_send_parser().parse_args(argv)
    body = (
        sys.stdin.buffer.read() if arguments.message == "-" else arguments.message.encode("utf-8")
    )
    queue = urllib.parse.quote(arguments.queue, safe="")
    url = f"{arguments.url.rstrip('/')}/admin/devhost/queues/{queue}/messages"
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            sent = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail", exc.reason)
        except ValueError:
            detail = exc.reason
        print(f"devhost send: error: {exc.code}: {detail}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as exc:
        print(
            f"devhost send: error: no local host answers at {arguments.url} ({exc}); start it "
            "with python -m devhost, or pass --url",
            file=sys.stderr,
        )
        return 1
    print(f"sent message {sent['id']} to queue {arguments.queue.lower()!r}")
    return 0
