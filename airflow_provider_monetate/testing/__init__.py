"""Local emulator of the Monetate (Auth, Data, Consumer Data Privacy) and Acquia CDP APIs.

Like moto for AWS: a real HTTP server on 127.0.0.1 that speaks both APIs as documented,
with a controllable clock, fault injection, counters and a request log::

    from airflow_provider_monetate.testing import Emulator, generate_key_pair

    keys = generate_key_pair()
    with Emulator() as emu:
        emu.add_monetate_user("api-me", keys.public_key_pem, shortname="myshop")
        emu.add_cdp_user("etl", "secret", environment="CS", tenant_id="1234")
        ...  # point your hooks at emu.url

Also available as ``python -m airflow_provider_monetate.testing`` (``monetate-emulator``)
and as pytest fixtures (``monetate_emulator``, ``emulator``) through the pytest plugin.
The server itself uses only the standard library plus PyJWT/cryptography for JWT checks.

Layout, moto's: a small core, then one sub-package per service holding its state, its
rules and its URL table. The core knows no API's rules; a service knows no sockets.

Core:

* ``server``: the :class:`Emulator`: HTTP server, dispatch to the services, faults, counts, log.
* ``wire``: the contract between server and services (request, response, ``Service``).
* ``routes``: route names, the unit of fault injection, counters and the request log.
* ``clock``: the business clock tests move. ``faults``: fault injection.
* ``metrics``: counters and the redacted request log.
* ``admin``: the ``/__emulator__/`` HTTP API; ``client``: its Python client.
* ``keys``: RSA keys and signed JWTs; ``connections``: Airflow connection JSON.
* ``pytest_plugin``: the fixtures; ``__main__``: the one-command CLI.
* ``token_store``: :class:`InMemoryTokenStore`, a CDP token store for DAG tests (not an emulator part).

Services (each with ``service`` = URL table + handlers, and an ``envelope`` for its answers):

* ``monetate``: ``auth`` (users, keys, JWTs, tokens), ``schema`` (schema and row rules),
  ``state`` (datasets, rows, privacy requests and the nightly batch).
* ``acquia_cdp``: ``tokens`` (users, token limits and cycles, sessions), ``payload``
  (tracker payload rules), ``tracker`` (stored records, KFK_0, soft deletes).

The services enforce what the vendor documents say, written apart from the provider's own
reading of them (constants that read alike are repeated here on purpose).
"""

from __future__ import annotations

from airflow_provider_monetate.testing.client import EmulatorAdminError, EmulatorClient
from airflow_provider_monetate.testing.clock import Clock
from airflow_provider_monetate.testing.keys import KeyPair, generate_key_pair, public_key_pem_of, sign_jwt
from airflow_provider_monetate.testing.routes import ROUTES
from airflow_provider_monetate.testing.server import Emulator
from airflow_provider_monetate.testing.token_store import InMemoryTokenStore

__all__ = [
    "ROUTES",
    "Clock",
    "Emulator",
    "EmulatorAdminError",
    "EmulatorClient",
    "InMemoryTokenStore",
    "KeyPair",
    "generate_key_pair",
    "public_key_pem_of",
    "sign_jwt",
]
