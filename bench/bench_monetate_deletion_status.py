"""Deletion status checks: sequential calls vs the sensor's concurrent poke and the trigger's async round.

    python bench/bench_monetate_deletion_status.py [--ids 10000] [--latency 0.05] [--baseline-sample 200]
                                                   [--concurrency 32]

Starts the emulator in a separate process (so the client does not share its GIL),
posts N IDs to a privacy dataset (half before a nightly batch, half after, by moving the
emulator's clock a day between them) and adds ``--latency`` seconds to every status call.
Then it times:

* the baseline: one plain ``requests`` call after another, measured on a sample of the IDs
  and extrapolated to all N (it would take minutes in full);
* the sensor's first poke (threads, ``MonetateDeletionSensor.poke``) over all N IDs;
* the sensor's second poke, which must ask only about the half not yet confirmed;
* the trigger's first round (httpx async, ``MonetateDeletionTrigger.run``) over all N IDs.

Each time is compared with the baseline measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import requests

from airflow_provider_monetate.testing import EmulatorClient, sign_jwt

sys.path.insert(0, str(Path(__file__).parent))
from common import emulator_process

DATASET = "bench_gdpr"
STATUS = "monetate.privacy_status"
DAY = 86_400


def _calls(admin: EmulatorClient) -> int:
    return admin.counters()[STATUS]["requests"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ids", type=int, default=10_000)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added to every status call")
    parser.add_argument("--baseline-sample", type=int, default=200, help="IDs the sequential baseline really asks")
    parser.add_argument("--concurrency", type=int, default=None, help="default: the sensor's own default")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as work, emulator_process() as emu:
        # Airflow reads its home when first imported: isolate it before the provider's sensor loads.
        os.environ["AIRFLOW_HOME"] = str(Path(work) / "airflow")
        os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        os.environ["AIRFLOW_CONN_MONETATE_DEFAULT"] = json.dumps(emu.monetate)
        return _run(args, emu.url, emu.monetate)


def _run(args: argparse.Namespace, url: str, conn: dict) -> int:
    from airflow_provider_monetate.sensors.monetate import MonetateDeletionSensor
    from airflow_provider_monetate.triggers.monetate import MonetateDeletionTrigger

    admin = EmulatorClient(url)
    # The bench posts schema_rows bodies of IDs no dataset holds, and measures status calls on IDs
    # still PENDING: the readings of the privacy documents under which that is what Monetate does.
    admin.set_readings({"monetate.privacy_body": "schema_rows", "monetate.privacy_pending": "any_submitted"})
    key = conn.get("password") or Path(conn["extra"]["private_key_path"]).read_text()
    session = requests.Session()

    def login() -> None:
        jwt_text = sign_jwt(key, conn["login"])
        token = requests.get(f"{url}/api/auth/v0/refresh/", headers={"Authorization": f"JWT {jwt_text}"},
                             timeout=10).json()["data"]["token"]
        session.headers["Authorization"] = f"Token {token}"

    login()
    base = f"{url}/api/data/v1/{conn['extra']['shortname']}/production/"
    session.post(f"{base}schema/", json={"name": DATASET, "type": "customer_data_privacy", "fields": {}},
                 timeout=10).raise_for_status()

    ids = [f"C{i:06d}" for i in range(args.ids)]
    half = len(ids) // 2
    asked = "2024-05-01T09:30:00.000000Z"

    def post(chunk: list[str]) -> None:
        for start in range(0, len(chunk), 500):
            rows = [{"customer_id": c, "delete_request_time": asked} for c in chunk[start:start + 500]]
            session.post(f"{base}data/{DATASET}/", json={"schema_rows": rows}, timeout=60).raise_for_status()

    post(ids[:half])
    admin.clock.advance(DAY)  # the first half is erased by the nightly batch...
    login()  # (a day later, the token has expired)
    post(ids[half:])  # ...the second half waits for the next one
    admin.inject(STATUS, "latency", seconds=args.latency)
    concurrency = {"max_concurrency": args.concurrency} if args.concurrency else {}

    # Baseline: a plain loop, one status call after another.
    sample = ids[: args.baseline_sample]
    started = time.perf_counter()
    for cid in sample:
        session.get(f"{base}customer-data-privacy/{DATASET}/", params={"id": cid}, timeout=60).raise_for_status()
    per_call = (time.perf_counter() - started) / len(sample)
    baseline = per_call * len(ids)

    def poke(run_id: str) -> tuple[bool, float, int]:
        sensor = MonetateDeletionSensor(task_id="wait", customer_ids=ids, privacy_dataset=DATASET,
                                        deferrable=False, **concurrency)
        context = {"ti": SimpleNamespace(dag_id="bench", run_id=run_id, task_id="wait", map_index=-1)}
        before, started = _calls(admin), time.perf_counter()
        done = sensor.poke(context)
        return done, time.perf_counter() - started, _calls(admin) - before

    first_done, first_seconds, first_calls = poke("run-1")
    second_done, second_seconds, second_calls = poke("run-1")  # a new instance, as in reschedule mode

    # The trigger's first round: a deadline already passed makes it run exactly one round.
    sensor = MonetateDeletionSensor(task_id="wait", customer_ids=ids, privacy_dataset=DATASET, **concurrency)
    trigger = MonetateDeletionTrigger(
        monetate_conn_id="monetate_default", privacy_dataset=DATASET, customer_ids=ids,
        work_dir=str(Path(os.environ["AIRFLOW_HOME"]) / "trigger"), state_key="bench.trigger",
        ledger=str(Path(os.environ["AIRFLOW_HOME"]) / "ledger"), deadline=0, expected_at=0,
        max_concurrency=sensor.max_concurrency,
    )
    before, started = _calls(admin), time.perf_counter()
    event = asyncio.run(anext(trigger.run())).payload
    trigger_seconds, trigger_calls = time.perf_counter() - started, _calls(admin) - before

    print(f"deletion status of {len(ids):,} IDs, {args.latency * 1000:.0f} ms added per call, emulator in a "
          "separate process, "
          f"concurrency {sensor.max_concurrency}")
    print(f"baseline (sequential requests): {per_call * 1000:.1f} ms/call measured on {len(sample)} IDs, "
          f"extrapolated to {len(ids):,} IDs: {baseline:.1f} s")
    print(f"sensor first poke (threads):    {first_seconds:.2f} s, {first_calls:,} calls -> "
          f"{baseline / first_seconds:.1f}x faster than the baseline")
    print(f"trigger first round (async):    {trigger_seconds:.2f} s, {trigger_calls:,} calls -> "
          f"{baseline / trigger_seconds:.1f}x faster than the baseline")
    print(f"sensor second poke:             {second_seconds:.2f} s, {second_calls:,} calls "
          f"(only the {len(ids) - half:,} IDs not confirmed by the first poke)")
    assert not first_done and not second_done and event["status"] == "timeout", (first_done, second_done, event)
    assert first_calls == trigger_calls == len(ids) and second_calls == len(ids) - half
    return 0


if __name__ == "__main__":
    sys.exit(main())
