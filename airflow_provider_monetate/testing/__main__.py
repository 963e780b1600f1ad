"""Run the emulator from one command and print the Airflow connections to export.

    python -m airflow_provider_monetate.testing [--port 8765] [--state-dir DIR]
        [--print-env-file FILE] [--ready-file FILE]

It registers a Monetate API user ``api-demo-etl`` (shortname ``demo``) whose private key
is written to ``DIR/api-demo-etl.pem`` (reused when present), a CDP integration user in
environment CS for tenant ``1234`` with one initial token, prints ``export ...`` lines,
then ``EMULATOR_READY <url>``, and serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shlex
import signal
import sys
import tempfile
import threading
from pathlib import Path

from airflow_provider_monetate.testing.connections import cdp_connection, monetate_connection, to_json
from airflow_provider_monetate.testing.keys import generate_key_pair, public_key_pem_of
from airflow_provider_monetate.testing.readings import Readings
from airflow_provider_monetate.testing.server import Emulator

__all__ = ["export_lines", "main"]

DEMO_MONETATE_USER = "api-demo-etl"
DEMO_SHORTNAME = "demo"
DEMO_CDP_LOGIN = "demo-integration"
DEMO_TENANT = "1234"
DEMO_ENVIRONMENT = "CS"
DEFAULT_PORT = 8765


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="monetate-emulator", description="Local emulator of the Monetate and Acquia CDP APIs."
    )
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port on 127.0.0.1 (0 = any free; default {DEFAULT_PORT})"
    )
    parser.add_argument("--state-dir", help="where to keep the demo private key (default: a new temp dir)")
    parser.add_argument("--print-env-file", metavar="FILE", help="also write the export lines to FILE")
    parser.add_argument("--ready-file", metavar="FILE", help="write the URL to FILE once serving")
    parser.add_argument(
        "--invalidation", choices=("all_previous", "evict_oldest"), help="CDP token invalidation reading"
    )
    parser.add_argument("--nightly-batch-hour", type=float, help="UTC hour of the Monetate privacy batch (default 2)")
    parser.add_argument(
        "--reading", action="append", default=[], metavar="POINT=READING",
        help="how to read a point the documents leave open (repeatable); --list-readings shows them",
    )
    parser.add_argument("--list-readings", action="store_true", help="print every open point and its readings")
    return parser.parse_args(argv)


def _demo_key(state_dir: Path) -> tuple[Path, str]:
    """The demo private key file (created once, mode 600) and its public key PEM."""
    path = state_dir / f"{DEMO_MONETATE_USER}.pem"
    if path.exists():
        return path, public_key_pem_of(path.read_text())
    keys = generate_key_pair()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(keys.private_key_pem)
    return path, keys.public_key_pem


def export_lines(url: str, key_path: Path, cdp_password: str, cdp_token: str) -> list[str]:
    """The ``export AIRFLOW_CONN_...=...`` lines for the demo users."""
    monetate = monetate_connection(url, DEMO_MONETATE_USER, DEMO_SHORTNAME, private_key_path=str(key_path))
    cdp = cdp_connection(url, DEMO_CDP_LOGIN, cdp_password, DEMO_TENANT, DEMO_ENVIRONMENT, cdp_token,
                         token_variable="acquia_cdp_token")
    return [
        f"export AIRFLOW_CONN_MONETATE_DEFAULT={shlex.quote(to_json(monetate))}",
        f"export AIRFLOW_CONN_ACQUIA_CDP_DEFAULT={shlex.quote(to_json(cdp))}",
        f"export MONETATE_EMULATOR_URL={shlex.quote(url)}",
    ]


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m airflow_provider_monetate.testing`` and ``monetate-emulator``."""
    args = _parse_args(argv)
    if args.list_readings:
        for name, point in Readings().snapshot().items():
            print(f"{name}: {' | '.join(point['readings'])} (default {point['reading']})\n    {point['question']}")
        return 0
    # A real server answers concurrent clients in parallel. Here one interpreter does, and a
    # request thread woken from its latency sleep would otherwise wait up to the default 5 ms
    # GIL slice behind another request's work: shorter slices keep concurrent answers from
    # queueing behind each other. Only in this process, which serves and does nothing else.
    sys.setswitchinterval(0.001)
    state_dir = Path(args.state_dir or tempfile.mkdtemp(prefix="monetate-emulator-"))
    state_dir.mkdir(parents=True, exist_ok=True)
    key_path, public_pem = _demo_key(state_dir)

    emulator = Emulator(port=args.port)
    emulator.configure(invalidation=args.invalidation, nightly_batch_hour=args.nightly_batch_hour)
    try:
        emulator.set_readings(dict(item.split("=", 1) for item in args.reading))
    except ValueError as error:  # a malformed item or an unknown point or reading
        print(f"monetate-emulator: --reading: {error}", file=sys.stderr)
        return 2
    emulator.add_monetate_user(DEMO_MONETATE_USER, public_pem, DEMO_SHORTNAME)
    cdp_password = secrets.token_urlsafe(12)
    emulator.add_cdp_user(DEMO_CDP_LOGIN, cdp_password, DEMO_ENVIRONMENT, DEMO_TENANT)
    cdp_token = emulator.issue_cdp_token(DEMO_CDP_LOGIN)
    emulator.start()

    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())

    lines = export_lines(emulator.url, key_path, cdp_password, cdp_token)
    if args.print_env_file:
        Path(args.print_env_file).write_text("\n".join(lines) + "\n")
    print(f"# Monetate / Acquia CDP emulator at {emulator.url} (state in {state_dir})")
    print("\n".join(lines))
    if args.ready_file:
        Path(args.ready_file).write_text(emulator.url + "\n")
    print(f"EMULATOR_READY {emulator.url}", flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        emulator.stop()
        print("emulator stopped", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
