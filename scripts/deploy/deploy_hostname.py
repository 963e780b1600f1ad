"""The hostname each Celery worker of the local deployment records on the task instances it runs.

Both workers run on one machine, so Airflow's default (the machine's FQDN) would name them alike.
scripts/deploy/airflow.sh points ``[core] hostname_callable`` here for the workers and sets
``DEPLOY_WORKER_NAME``: the UI's "Hostname" then says which worker ran each try, with the same
``worker1@<host>`` name Celery gives the worker.
"""

from __future__ import annotations

import os
import socket

__all__ = ["worker_hostname"]


def worker_hostname() -> str:
    """``<worker name>@<fqdn>``, or the FQDN alone outside a deployment worker."""
    fqdn = socket.getfqdn()
    name = os.environ.get("DEPLOY_WORKER_NAME")
    return f"{name}@{fqdn}" if name else fqdn
