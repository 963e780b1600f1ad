"""The admin client: an emulator in another process, driven over HTTP like the Python API."""

from __future__ import annotations

import pytest
import requests

from airflow_provider_monetate.testing import EmulatorAdminError, EmulatorClient, sign_jwt
from tests.unit.testing.helpers import ATTRIBUTE_FIELDS, TIMEOUT


def test_admin_client_mirrors_the_python_api(emulator, other_keys):
    client = EmulatorClient(emulator.url)
    client.wait_ready()
    client.add_monetate_user("api-remote", other_keys.public_key_pem, "remoteshop")
    jwt_text = sign_jwt(other_keys.private_key_pem, "api-remote")
    token = requests.get(
        f"{emulator.url}/api/auth/v0/refresh/", headers={"Authorization": f"JWT {jwt_text}"}, timeout=TIMEOUT
    ).json()["data"]["token"]
    base = f"{emulator.url}/api/data/v1/remoteshop/production/"
    headers = {"Authorization": f"Token {token}"}
    requests.post(
        base + "schema/",
        json={"name": "attrs", "type": "attribute", "fields": ATTRIBUTE_FIELDS},
        headers=headers,
        timeout=TIMEOUT,
    )
    requests.post(base + "data/attrs/", json={"schema_rows": [{"customer_id": "R1"}]}, headers=headers, timeout=TIMEOUT)
    assert client.monetate_rows("remoteshop", "attrs") == [{"customer_id": "R1"}]
    assert client.privacy_status("remoteshop", "R1") == "FOUND"
    assert client.configure(nightly_batch_hour=5)["nightly_batch_hour"] == 5
    assert client.config()["nightly_batch_hour"] == 5

    client.add_cdp_user("remote-etl", "pw", "UAT", "4321")
    cdp_token = client.issue_cdp_token("remote-etl")
    requests.post(
        f"{emulator.url}/v2/4321/dw/tracker",
        params={"scheme": "a1user"},
        json={"customers": [{"SourceCustomerNumber": "X"}]},
        headers={"Authorization": f"Bearer {cdp_token}"},
        timeout=TIMEOUT,
    )
    assert client.cdp_records("4321", "customers") == [{"SourceCustomerNumber": "X", "SourceSystemID": "KFK_0"}]
    assert client.cdp_stats()["kfk0_records"] == 1
    assert client.counters()["cdp.tracker"]["statuses"] == {200: 1}

    client.deactivate_monetate_key("api-remote")
    assert requests.get(base + "schema/", headers=headers, timeout=TIMEOUT).status_code == 403
    with pytest.raises(EmulatorAdminError) as info:
        client.monetate_rows("remoteshop", "nope")
    assert info.value.status == 404
    with pytest.raises(EmulatorAdminError) as info:
        client.add_cdp_user("x", "y", "STAGING", "1")
    assert info.value.status == 400
    client.reset()
    assert client.requests() == []
