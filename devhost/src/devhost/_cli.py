"""``python -m devhost``: parse the command line, run the host until Ctrl-C or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path

from devhost._errors import DevHostError
from devhost._host import STORAGE_KINDS, DevHostOptions, RunningDevHost, _running
from devhost._send import send_main
from devhost._settings import default_environ
from devhost._signals import stop_on_signals
from devhost._timers import utc_now

logger = logging.getLogger(__name__)

DESCRIPTION = """\
Run an Azure Functions Python app (v2 programming model) locally, without Core Tools.

Loads the FunctionApp/DFApp in function_app.py, indexes it with azure-functions' own API,
and serves every HTTP trigger at http://HOST:PORT/<routePrefix>/<route> with the host's route
template rules ({name}, {name?}, {name=default}, {id:int}, {*rest}); a request whose method no
function accepts gets 404, as from the host (HEAD on a POST-only route: 405). Timer triggers
run on their NCRONTAB schedules (UTC). Durable Functions run on an embedded backend mounted
on the same port (/runtime/webhooks/durabletask/...). Storage queue and blob triggers and
outputs run on embedded storage (or Azurite with --storage azurite), Service Bus queues and
topics on an embedded bus, with host.json extensions.queues / extensions.serviceBus. Other
triggers (Event Hubs, Cosmos DB, ...) are listed as "not run locally". Non-HTTP functions
can be invoked with POST /admin/functions/NAME {"input": "..."}, as with Core Tools.

Settings: host.json (extensions.http.routePrefix, extensions.durableTask.hubName and
overridableExistingInstanceStates) and local.settings.json "Values", copied into the
environment before the app is imported; variables already set are never overridden.

Redis: REDIS_URL is used when set (environment or local.settings.json); it is parsed and
PINGed at start, and the host exits (status 1) with a one-line reason when it is malformed
or Redis does not answer. Otherwise an in-process Redis (fakeredis with Lua) is started on a
free loopback port and exported as REDIS_URL before the app is imported. It guards only
this one process. Passwords in REDIS_URL are never printed.

Not enforced locally: HTTP auth levels (function/admin keys), as with Core Tools. So keep
--host on loopback: on any other address the Durable management API (terminate, purge) is
open to the network, and the host says so loudly.
"""

EPILOG = """\
examples:
  python -m devhost                              # ./function_app.py on 127.0.0.1:7071
  python -m devhost --app ../other-app           # ../other-app/function_app.py
  python -m devhost --port 7072 --store .durable.sqlite
  REDIS_URL=redis://127.0.0.1:6379/0 python -m devhost --port 7072
  python -m devhost --app function_app:app --storage-latency 20
  python -m devhost send orders '{"customerId": "c1"}'   # a message to a running host's queue

exit status: 0 after Ctrl-C/SIGTERM, 1 when the app or its settings cannot be loaded or
REDIS_URL does not answer PING, 2 for bad command-line arguments.
"""


def _latency_ms(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of milliseconds: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"not a TCP port (0-65535): {text!r}")
    return int(text)


def version_line() -> str:
    """``devhost X (durable-singleton Y)``, from the installed distributions' metadata."""
    versions = []
    for distribution in ("durable-singleton-devhost", "durable-singleton"):
        try:
            versions.append(metadata.version(distribution))
        except metadata.PackageNotFoundError:  # a source tree that was never installed
            versions.append("0+unknown")
    return f"devhost {versions[0]} (durable-singleton {versions[1]})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m devhost",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=version_line(), help="print the versions and exit"
    )
    parser.add_argument(
        "--port",
        type=_port,
        default=7071,
        help="TCP port to listen on (default 7071, like Core Tools; 0 picks a free one)",
    )
    parser.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; keep it on loopback: keys are not "
        "enforced, so any other address exposes the management API, with a warning)",
    )
    parser.add_argument(
        "--app",
        default="function_app.py",
        help="the app: a folder with a function_app.py (like func start in that folder), a "
        "file (function_app.py in the current folder, the default), a module, or "
        "module:attribute; host.json and local.settings.json are read from the app's folder",
    )
    parser.add_argument(
        "--store",
        type=Path,
        default=None,
        metavar="PATH",
        help="keep Durable state in a SQLite file at PATH (default: in memory, lost on exit)",
    )
    parser.add_argument(
        "--storage-latency",
        type=_latency_ms,
        default=0.0,
        metavar="MS",
        help="add MS milliseconds to every Durable storage operation, to mimic Azure Storage "
        "round trips and widen race windows (default 0)",
    )
    parser.add_argument(
        "--storage",
        choices=STORAGE_KINDS,
        default="embedded",
        help="where queues live: embedded (default; in memory, or next to --store) or azurite "
        "(the queue service at the AzureWebJobsStorage connection; UseDevelopmentStorage=true "
        "alone never switches)",
    )
    parser.add_argument(
        "--no-timers",
        action="store_true",
        help="do not run timer triggers (they are listed but never fire)",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="debug logging (binding details, each request)"
    )
    return parser


async def _serve(
    options: DevHostOptions, *, on_started: Callable[[RunningDevHost], None] | None = None
) -> None:
    stop = asyncio.Event()
    with stop_on_signals(asyncio.get_running_loop(), stop.set):
        async with _running(options, default_environ(), sys.stdout, utc_now, None) as running:
            print(f"Host started on {running.base_url} (Ctrl-C to stop)", flush=True)
            if on_started is not None:
                on_started(running)
            await stop.wait()
            print("Stopping the host...", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["send"]:
        return send_main(argv[1:])
    arguments = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if arguments.verbose else logging.INFO,
        format="[%(asctime)s] %(levelname)s %(name)s: %(message)s",
    )
    options = DevHostOptions(
        app=arguments.app,
        host=arguments.host,
        port=arguments.port,
        store_path=arguments.store,
        storage_latency=arguments.storage_latency / 1000,
        cwd=Path.cwd(),
        run_timers=not arguments.no_timers,
        storage=arguments.storage,
    )
    try:
        asyncio.run(_serve(options))
    except DevHostError as exc:
        print(f"devhost: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(
            f"devhost: error: cannot listen on {options.host}:{options.port}: {exc}",
            file=sys.stderr,
        )
        return 1
    return 0
