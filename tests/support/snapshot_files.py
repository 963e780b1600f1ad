"""Snapshot files for the incremental sync tests: random entries, written and read back."""

from __future__ import annotations

import random

from airflow_provider_monetate.loading._snapshot_writer import write_snapshot
from airflow_provider_monetate.loading._snapshots import Header

SALT = bytes(range(16))


def records(n, seed=1):
    rng = random.Random(seed)
    return [(rng.getrandbits(64), rng.getrandbits(64), rng.getrandbits(64), rng.getrandbits(64)) for _ in range(n)]


def write(path, new, *, old=None, left_out=(), generation=1, fingerprint="fp"):
    keys = (old.keys - len(left_out) if old else 0) + len(new)
    header = Header(generation, fingerprint, keys, SALT)
    write_snapshot(path, header, old, sorted(left_out), [sorted(new)])
    return header


def entries(snapshot):
    return list(zip(snapshot.row_a[:-1], snapshot.row_b[:-1], snapshot.key_a[:-1], snapshot.key_b[:-1], strict=True))
