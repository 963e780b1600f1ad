"""sync="incremental" vs a full resend: 1,000,000 rows, 1% changed, 50 ms added latency per POST.

    python bench/bench_incremental.py [--rows 1000000] [--skip-rss]

Seeds two incremental syncs without latency (1,000,000 and 10,000 rows of the load benchmark's
dataset), then, with 50 ms per POST, measures in the same run: (a) a full resend of the input with
every 100th row changed (``sync="full"``, the loader as it was before incremental sync); (b) the
incremental run over the same input. Prints rows and requests sent, wall time, the check pass and
peak RSS, and the targets: (b) sends exactly 1% of the rows in no more requests than they need, at
least 5x faster than (a); peak RSS of (b) at most 100 MB above the same run over 10,000 keys.
Each scenario runs in a fresh process, the emulator in another.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from math import ceil
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).parent))
from bench_monetate_load import DATASET, FIELDS
from common import emulator_process, measure, prepare_like_a_task, run_scenario

SMALL = "bench_events_small"
BATCH = 500


def write_input(path: Path, rows: int, *, changed: bool) -> None:
    """The load benchmark's rows; with ``changed``, every 100th row has other points."""
    with path.open("w") as out:
        for i in range(rows):
            points = i % 1000 + (1 if changed and i % 100 == 0 else 0)
            out.write(json.dumps({"event_id": f"e-{i}", "customer_id": f"C{i % 50_000}",
                                  "occurred_at": "2024-05-01T12:00:00Z", "points": points,
                                  "vip": i % 7 == 0, "channel": "web"}) + "\n")


def operator(path: str, dataset: str, sync: str, summary: dict) -> int:
    from airflow_provider_monetate.operators.monetate import MonetatePostRecordsOperator

    task = MonetatePostRecordsOperator(task_id="bench", dataset=dataset, source=path, sync=sync)
    ti = SimpleNamespace(dag_id="bench", run_id=f"run-{os.getpid()}", task_id="bench", map_index=-1)
    summary.update(task.execute({"ti": ti}))
    return summary["rows_sent"]


def scenario(args) -> None:
    prepare_like_a_task("airflow_provider_monetate.operators.monetate")

    summary: dict = {}
    result = measure(lambda: operator(args.file, args.dataset, args.sync, summary))
    result.update({k: summary.get(k) for k in ("check_seconds", "rows_read", "rows_new", "rows_changed",
                                               "rows_unchanged", "keys_removed", "full_sync_reason")})
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--skip-rss", action="store_true", help="skip the 10,000-key run for the memory comparison")
    parser.add_argument("--scenario", action="store_true")
    parser.add_argument("--file")
    parser.add_argument("--dataset")
    parser.add_argument("--sync")
    args = parser.parse_args()
    if args.scenario:
        return scenario(args)

    from airflow_provider_monetate.testing import EmulatorClient

    with tempfile.TemporaryDirectory() as tmp, emulator_process() as emu:
        env = {**emu.env, "AIRFLOW_HOME": tmp}  # the snapshots live under it, from one scenario to the next
        _create_datasets(emu)
        client = EmulatorClient(emu.url)
        files = {name: Path(tmp) / f"{name}.ndjson" for name in ("base", "changed", "small", "small_changed")}
        write_input(files["base"], args.rows, changed=False)
        write_input(files["changed"], args.rows, changed=True)

        def run(name: str, dataset: str, sync: str) -> dict:
            return run_scenario(__file__, "--scenario", "--file", str(files[name]), "--dataset", dataset, "--sync",
                                sync, env=env)

        seeded = run("base", DATASET, "incremental")
        assert seeded["rows"] == args.rows, seeded
        if not args.skip_rss:
            write_input(files["small"], 10_000, changed=False)
            write_input(files["small_changed"], 10_000, changed=True)
            run("small", SMALL, "incremental")
        client.inject("monetate.data", "latency", seconds=0.05)
        before = client.counters().get("monetate.data", {}).get("requests", 0)
        incremental = run("changed", DATASET, "incremental")
        requests = client.counters().get("monetate.data", {}).get("requests", 0) - before
        full = run("changed", DATASET, "full")
        small = None if args.skip_rss else run("small_changed", SMALL, "incremental")
        _report(args.rows, full, incremental, requests, small)


def _create_datasets(emu) -> None:
    import requests

    from airflow_provider_monetate.testing import sign_jwt

    username, shortname = emu.monetate["login"], emu.monetate["extra"]["shortname"]
    jwt_header = {"Authorization": f"JWT {sign_jwt(emu.private_key, username)}"}
    token = requests.get(f"{emu.url}/api/auth/v0/refresh/", timeout=10, headers=jwt_header).json()["data"]["token"]
    for name in (DATASET, SMALL):
        requests.post(f"{emu.url}/api/data/v1/{shortname}/production/schema/", timeout=10,
                      json={"name": name, "type": "event", "fields": FIELDS},
                      headers={"Authorization": f"Token {token}"}).raise_for_status()


def _report(rows: int, full: dict, incremental: dict, requests: int, small: dict | None) -> None:
    changed = rows // 100
    print(f"{rows:,} NDJSON rows, every 100th changed ({changed:,}), 50 ms added latency per POST, "
          f"{BATCH}-row batches, defaults (4 in flight)")
    print(f"{'scenario':<36}{'rows sent':>11}{'seconds':>9}{'check s':>9}{'CPU s':>8}{'peak RSS':>10}")
    for label, result in (("(a) full resend, sync='full'", full), ("(b) sync='incremental'", incremental)):
        print(f"{label:<36}{result['rows']:>11,}{result['seconds']:>9.2f}{result['check_seconds']:>9.2f}"
              f"{result['cpu']:>8.2f}{result['peak_rss_mb']:>8.0f}MB")
    print(f"(b) counted: {incremental['rows_new']} new, {incremental['rows_changed']} changed, "
          f"{incremental['rows_unchanged']} unchanged, {incremental['keys_removed']} keys removed")
    needed = ceil(changed / BATCH)
    exact = incremental["rows"] == changed and incremental["rows_changed"] == changed
    print(f"target: (b) sends exactly {changed:,} rows: {incremental['rows']:,} {'PASS' if exact else 'FAIL'}; "
          f"in at most {needed} requests: {requests} {'PASS' if requests <= needed else 'FAIL'}")
    speedup = full["seconds"] / incremental["seconds"]
    print(f"target: (b) >= 5x faster than (a): {speedup:.2f}x {'PASS' if speedup >= 5 else 'FAIL'}")
    print(f"(b) check pass (read, check, compare with the snapshot) {incremental['check_seconds']:.2f} s vs (a) "
          f"{full['check_seconds']:.2f} s: {incremental['check_seconds'] / full['check_seconds']:.2f}x")
    if small is not None:
        growth = incremental["peak_rss_mb"] - small["peak_rss_mb"]
        print(f"peak RSS, incremental run: 10,000 keys {small['peak_rss_mb']:.0f} MB; {rows:,} keys "
              f"{incremental['peak_rss_mb']:.0f} MB; growth {growth:.1f} MB (target <= 100 MB) "
              f"{'PASS' if growth <= 100 else 'FAIL'}")


if __name__ == "__main__":
    main()
