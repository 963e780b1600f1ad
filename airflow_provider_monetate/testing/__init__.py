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
"""

from __future__ import annotations

from airflow_provider_monetate.testing.client import EmulatorAdminError, EmulatorClient
from airflow_provider_monetate.testing.clock import Clock
from airflow_provider_monetate.testing.keys import KeyPair, generate_key_pair, public_key_pem_of, sign_jwt
from airflow_provider_monetate.testing.routes import ROUTES
from airflow_provider_monetate.testing.server import Emulator

__all__ = [
    "ROUTES",
    "Clock",
    "Emulator",
    "EmulatorAdminError",
    "EmulatorClient",
    "KeyPair",
    "generate_key_pair",
    "public_key_pem_of",
    "sign_jwt",
]
