"""Emulator ceiling: how fast can the emulator accept Monetate rows?

    python bench/bench_emulator.py [--rows 200000] [--batch 500] [--threads 4]

Starts the emulator (as a separate process by default, like the demo, so the client
threads do not share its GIL), creates a dataset with a unique key, posts N rows in
batches from a plain ``requests.Session`` per thread with no injected latency, and prints
rows/s and requests/s. Later benchmarks can compare against this ceiling to show they
measure the client, not the emulator.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from pathlib import Path

import requests

from airflow_provider_monetate.testing import EmulatorClient, sign_jwt

sys.path.insert(0, str(Path(__file__).parent))
from common import emulator_process

DATASET = "bench_rows"
FIELDS = {
    "row_id": {"data_type": "STRING", "unique_key": True},
    "customer_id": {"data_type": "STRING", "identifier": True},
    "seen_at": {"data_type": "DATETIME"},
    "points": {"data_type": "NUMBER"},
    "vip": {"data_type": "BOOLEAN"},
    "tags": {"data_type": "MULTI_STRING"},
}


def _post_batches(base: str, token: str, bodies: list[bytes], latencies: list[float]) -> None:
    session = requests.Session()
    session.headers.update({"Authorization": f"Token {token}", "Content-Type": "application/json"})
    url = f"{base}data/{DATASET}/"
    for body in bodies:
        start = time.perf_counter()
        response = session.post(url, data=body, timeout=60)
        latencies.append(time.perf_counter() - start)
        if response.status_code != 201:
            raise SystemExit(f"unexpected {response.status_code}: {response.text[:300]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--threads", type=int, default=4)
    args = parser.parse_args(argv)

    with emulator_process() as emu:
        url, username = emu.url, emu.monetate["login"]
        shortname, private_key = emu.monetate["extra"]["shortname"], emu.private_key
        jwt_text = sign_jwt(private_key, username)
        auth = requests.get(f"{url}/api/auth/v0/refresh/", headers={"Authorization": f"JWT {jwt_text}"}, timeout=10)
        token = auth.json()["data"]["token"]
        base = f"{url}/api/data/v1/{shortname}/production/"
        created = requests.post(
            f"{base}schema/",
            json={"name": DATASET, "type": "attribute", "fields": FIELDS},
            headers={"Authorization": f"Token {token}"},
            timeout=10,
        )
        created.raise_for_status()

        # Bodies are serialised up front so the timed loop measures the emulator.
        rows = (
            {
                "row_id": f"r-{i}",
                "customer_id": f"c-{i % 50_000}",
                "seen_at": "2024-05-01T12:00:00.000000Z",
                "points": i % 1000,
                "vip": i % 7 == 0,
                "tags": "a,b",
            }
            for i in range(args.rows)
        )
        bodies, batch = [], []
        for row in rows:
            batch.append(row)
            if len(batch) == args.batch:
                bodies.append(json.dumps({"schema_rows": batch}).encode())
                batch = []
        if batch:
            bodies.append(json.dumps({"schema_rows": batch}).encode())

        latencies: list[float] = []
        shares = [bodies[i :: args.threads] for i in range(args.threads)]
        threads = [threading.Thread(target=_post_batches, args=(base, token, share, latencies)) for share in shares]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - start

        counters = EmulatorClient(url).counters()["monetate.data"]
        stored = requests.get(
            f"{base}schema/{DATASET}/",
            params={"row_count": "true"},
            headers={"Authorization": f"Token {token}"},
            timeout=10,
        ).json()["data"]["row_count"]
        assert counters["rows_received"] == args.rows, counters
        assert stored == args.rows, stored
        lat = sorted(latencies)
        print(
            f"emulator ceiling (separate process): {args.rows:,} rows in {len(bodies):,} requests "
            f"of {args.batch} rows, {args.threads} threads"
        )
        print(
            f"elapsed {elapsed:.2f} s -> {args.rows / elapsed:,.0f} rows/s, {len(bodies) / elapsed:,.1f} requests/s"
        )
        print(
            f"request latency: p50 {statistics.median(lat) * 1000:.1f} ms, "
            f"p95 {lat[int(len(lat) * 0.95) - 1] * 1000:.1f} ms"
        )
        print(f"rows stored: {stored:,} (unique key upsert), rows counted: {counters['rows_received']:,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
