"""MonetateHook against requests-mock: auth, every Data API call, error paths, spec conformance."""

from __future__ import annotations

import json
import threading
import time

import jwt
import pytest
import requests

from airflow_provider_monetate.exceptions import (
    ApiAuthError,
    ApiForbiddenError,
    ApiNotFoundError,
    ApiUnavailableError,
    ApiValidationError,
    ConfigurationError,
    PrivateKeyError,
)
from airflow_provider_monetate.hooks.monetate import DeletionStatus, MonetateHook
from airflow_provider_monetate.http import RetryPolicy
from tests.conftest import set_connection
from tests.support.network_failures import SelfSignedServer, refuse_to_resolve
from tests.support.openapi_check import NotInSpec, check_request

HOST = "https://monetate.test"
AUTH_URL = f"{HOST}/api/auth/v0/refresh/"
DATA = f"{HOST}/api/data/v1/shop/production"
USER = "api-123-etl"


def token_body(token="1.tok.en", ttl=3600):
    now = time.time()
    return {"meta": {"code": 200, "errors": [], "warnings": []},
            "data": {"token": token, "issued_at": now, "expires_in": ttl, "expires_at": now + ttl}}


def ok(data, code=200):
    return {"meta": {"code": code, "errors": [], "warnings": []}, "data": data}


@pytest.fixture
def conn(monkeypatch, keypair):
    def make(**extra):
        password = extra.pop("password", keypair.pkcs8)
        host = extra.pop("host", HOST)
        set_connection(monkeypatch, "mon", conn_type="monetate", host=host, login=USER, password=password,
                       extra={"shortname": "shop", **extra})
        return MonetateHook("mon", retry=RetryPolicy(max_attempts=5, base_delay=0.01, max_delay=0.05))
    return make


@pytest.fixture
def hook(conn):
    return conn()


@pytest.fixture
def mint(requests_mock):
    return requests_mock.get(AUTH_URL, json=token_body())


# -- auth ---------------------------------------------------------------------------------

def test_jwt_verifies_with_public_key_and_has_exactly_username_and_iat(hook, keypair, mint):
    hook.mint_token()
    header = mint.last_request.headers["Authorization"]
    scheme, _, token = header.partition(" ")
    assert scheme == "JWT"
    claims = jwt.decode(token, keypair.public_pem, algorithms=["RS256"])
    assert set(claims) == {"username", "iat"}
    assert claims["username"] == USER
    assert abs(claims["iat"] - time.time()) < 5


@pytest.mark.parametrize("algorithm", ["RS256", "RS384", "RS512"])
def test_each_supported_algorithm_signs(conn, keypair, mint, algorithm):
    conn(algorithm=algorithm.lower()).mint_token()
    token = mint.last_request.headers["Authorization"].split(" ", 1)[1]
    assert jwt.get_unverified_header(token)["alg"] == algorithm
    jwt.decode(token, keypair.public_pem, algorithms=[algorithm])


@pytest.mark.parametrize(("configured", "sent"), [
    (None, "3600"), ("", "3600"), (900, "900"), ("7200", "7200"), ("3600.0", "3600"), (43200.0, "43200")])
def test_ttl_whole_numbers_are_sent_as_given(conn, mint, configured, sent):
    extra = {} if configured is None else {"token_ttl": configured}
    conn(**extra).mint_token()
    assert mint.last_request.qs["ttl"] == [sent]


def test_fresh_jwt_for_every_refresh(hook, mint, monkeypatch):
    hook.mint_token()
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)
    hook.mint_token()
    first, second = (r.headers["Authorization"] for r in mint.request_history)
    assert first != second


def test_every_attempt_of_the_token_exchange_signs_its_own_jwt(hook, requests_mock):
    # The server checks iat against its clock: a JWT signed before a 90 s wait would be 90 s old.
    now = [1_700_000_000.0]
    hook.jwt_clock = lambda: now[0]

    def sleep(seconds):
        now[0] += seconds

    hook.api._sleep = sleep
    busy = {"status_code": 503, "headers": {"Retry-After": "90"}, "json": ok(None, 503)}
    mint = requests_mock.get(AUTH_URL, [busy, busy, {"json": token_body()}])
    hook.mint_token()
    sent = [r.headers["Authorization"].split(" ", 1)[1] for r in mint.request_history]
    iats = [jwt.decode(token, options={"verify_signature": False})["iat"] for token in sent]
    assert len(set(sent)) == 3 and iats[1] - iats[0] >= 90 and iats[2] - iats[1] >= 90


@pytest.mark.parametrize("form", ["pkcs1", "pkcs8"])
def test_key_forms_and_sources(conn, keypair, mint, tmp_path, form):
    pem = getattr(keypair, form)
    conn(password=pem).mint_token()
    conn(password=None, private_key=pem).mint_token()
    path = tmp_path / "key.pem"
    path.write_text(pem)
    conn(password=None, private_key_path=str(path)).mint_token()
    conn(password=pem.replace("\n", "\\n")).mint_token()  # as pasted into a JSON env var
    assert mint.call_count == 4


def test_encrypted_key_with_passphrase(conn, keypair, mint):
    conn(password=keypair.encrypted, private_key_passphrase="s3cret-passphrase").mint_token()
    assert mint.call_count == 1


@pytest.mark.parametrize(
    ("password", "extra", "message"),
    [
        ("-----BEGIN PRIVATE KEY-----\nnot base64!!\n-----END PRIVATE KEY-----", {}, "malformed"),
        ("just some text", {}, "not PEM text"),
        ("PUBLIC", {}, "PUBLIC key where the PRIVATE key belongs"),
        ("ENCRYPTED", {}, "set the private_key_passphrase"),
        ("ENCRYPTED", {"private_key_passphrase": "wrong"}, "Wrong private_key_passphrase"),
        ("PKCS8", {"algorithm": "HS256"}, "Unsupported JWT algorithm"),
        ("", {}, "No Monetate private key"),
    ],
)
def test_bad_key_gets_its_own_error_and_nothing_is_sent(conn, keypair, requests_mock, password, extra, message):
    pem = {"PUBLIC": keypair.public_pem, "ENCRYPTED": keypair.encrypted, "PKCS8": keypair.pkcs8}.get(password, password)
    hook = conn(password=pem, **extra)
    with pytest.raises(ConfigurationError, match=message) as info:
        hook.list_schemas()
    assert isinstance(info.value, PrivateKeyError) == ("algorithm" not in extra)  # the algorithm is no key matter
    assert requests_mock.call_count == 0
    assert "PRIVATE KEY-----\n" not in str(info.value)


def test_missing_key_file_is_named(conn, requests_mock, tmp_path):
    with pytest.raises(PrivateKeyError, match="Cannot read the Monetate private key file"):
        conn(password=None, private_key_path=str(tmp_path / "absent.pem")).mint_token()
    assert requests_mock.call_count == 0


def test_token_is_cached_and_sent_with_token_scheme(hook, mint, requests_mock):
    schemas = requests_mock.get(f"{DATA}/schema/", json=ok([]))
    hook.list_schemas()
    MonetateHook("mon").list_schemas()  # a second hook on the same connection shares the token
    assert mint.call_count == 1
    assert {r.headers["Authorization"] for r in schemas.request_history} == {"Token 1.tok.en"}


def test_threads_share_one_mint(hook, requests_mock):
    def slow_mint(request, context):
        time.sleep(0.2)
        return token_body()

    mint = requests_mock.get(AUTH_URL, json=slow_mint)
    requests_mock.get(f"{DATA}/schema/", json=ok([]))
    threads = [threading.Thread(target=hook.list_schemas) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert mint.call_count == 1


def test_token_expiring_mid_run_means_exactly_one_reauth(hook, requests_mock):
    mint = requests_mock.get(AUTH_URL, [{"json": token_body("1.old.t")}, {"json": token_body("1.new.t")}])
    schemas = requests_mock.get(
        f"{DATA}/schema/", [{"json": ok([])}, {"status_code": 401, "json": ok(None, 401)}, {"json": ok([])}]
    )
    hook.list_schemas()
    hook.list_schemas()
    assert mint.call_count == 2
    assert [r.headers["Authorization"] for r in schemas.request_history] == [
        "Token 1.old.t", "Token 1.old.t", "Token 1.new.t"]


def test_cached_token_renewed_ahead_of_expiry(hook, requests_mock, monkeypatch):
    mint = requests_mock.get(AUTH_URL, json=token_body(ttl=900))
    requests_mock.get(f"{DATA}/schema/", json=ok([]))
    hook.list_schemas()
    now = time.time()
    monkeypatch.setattr(time, "time", lambda: now + 900 - 60)  # inside the renewal margin
    from airflow_provider_monetate.monetate import _auth as monetate_auth

    monkeypatch.setattr(monetate_auth.TOKEN_CACHE, "_clock", lambda: now + 900 - 60)
    hook.list_schemas()
    assert mint.call_count == 2


def test_persistent_401_raises_after_one_reauth(hook, requests_mock):
    mint = requests_mock.get(AUTH_URL, json=token_body())
    requests_mock.get(f"{DATA}/schema/", status_code=401, json=ok(None, 401))
    with pytest.raises(ApiAuthError, match="public key"):
        hook.list_schemas()
    assert mint.call_count == 2


def test_401_on_token_exchange_is_not_retried(hook, requests_mock):
    mint = requests_mock.get(AUTH_URL, status_code=401, json=ok(None, 401))
    with pytest.raises(ApiAuthError):
        hook.list_schemas()
    assert mint.call_count == 1


def test_403_fails_at_once(hook, mint, requests_mock):
    schemas = requests_mock.get(f"{DATA}/schema/", status_code=403, json=ok(None, 403))
    with pytest.raises(ApiForbiddenError, match="deactivated"):
        hook.list_schemas()
    assert schemas.call_count == 1


def test_404_says_dataset_or_shortname(hook, mint, requests_mock):
    requests_mock.get(f"{DATA}/schema/nope/", status_code=404, json=ok(None, 404))
    with pytest.raises(ApiNotFoundError, match="dataset does not exist, or the shortname"):
        hook.get_schema("nope")
    assert hook.find_schema("nope") is None


def test_400_names_the_field_and_is_not_retried(hook, mint, requests_mock):
    errors = [{"row": 3, "field": "customer_id", "message": "required"}]
    post = requests_mock.post(f"{DATA}/data/ds/", status_code=400,
                              json={"meta": {"code": 400, "errors": errors}, "data": None})
    with pytest.raises(ApiValidationError, match="row=3, field=customer_id") as info:
        hook.post_rows("ds", [{"x": 1}])
    assert post.call_count == 1
    assert info.value.status == 400 and info.value.path == "/api/data/v1/shop/production/data/ds/"


def test_429_waits_at_least_retry_after(hook, mint, requests_mock):
    waits = []
    hook.api._sleep = waits.append
    requests_mock.get(f"{DATA}/schema/", [
        {"status_code": 429, "headers": {"Retry-After": "2"}, "json": ok(None, 429)}, {"json": ok([])}])
    hook.list_schemas()
    assert waits and waits[0] >= 2


def test_five_503_in_a_row_raise_with_attempt_count(hook, mint, requests_mock):
    waits = []
    hook.api._sleep = waits.append
    schemas = requests_mock.get(f"{DATA}/schema/", status_code=503, json=ok(None, 503))
    with pytest.raises(ApiUnavailableError, match="Gave up after 5 attempts") as info:
        hook.list_schemas()
    assert schemas.call_count == 5 and info.value.attempts == 5 and len(waits) == 4


def test_backoff_grows_and_total_time_is_bounded(conn, mint, requests_mock):
    hook = conn()
    hook.api.retry = RetryPolicy(max_attempts=50, base_delay=1, max_delay=8, max_elapsed=20)
    hook.api._rand = lambda: 1.0
    clock = [0.0]
    hook.api._clock = lambda: clock[0]
    waits = []

    def sleep(seconds):
        waits.append(seconds)
        clock[0] += seconds

    hook.api._sleep = sleep
    requests_mock.get(f"{DATA}/schema/", status_code=502, json=ok(None, 502))
    with pytest.raises(ApiUnavailableError):
        hook.list_schemas()
    assert waits[:4] == [1, 2, 4, 8] and sum(waits) <= 20


def test_timeout_on_post_is_not_repeated_unless_safe(hook, mint, requests_mock):
    post = requests_mock.post(f"{DATA}/data/ds/", exc=requests.ReadTimeout)
    with pytest.raises(ApiUnavailableError, match="may have been processed") as info:
        hook.post_rows("ds", [{"id": "a"}])
    assert info.value.in_doubt and post.call_count == 1

    hook.api._sleep = lambda s: None
    requests_mock.post(f"{DATA}/data/ds/", [{"exc": requests.ReadTimeout}, {"status_code": 201, "json": ok({})}])
    assert hook.post_rows("ds", [{"id": "a"}], retry_ambiguous=True) == 201


def test_connection_refused_is_retried_even_for_unsafe_posts(hook, mint, requests_mock):
    hook.api._sleep = lambda s: None
    requests_mock.post(f"{DATA}/data/ds/", [{"exc": requests.ConnectTimeout}, {"status_code": 201, "json": ok({})}])
    assert hook.post_rows("ds", [{"id": "a"}]) == 201


def test_user_agent_and_timeout(hook, mint, requests_mock):
    schemas = requests_mock.get(f"{DATA}/schema/", json=ok([]))
    hook.list_schemas()
    assert schemas.last_request.headers["User-Agent"].startswith("airflow-provider-monetate/")
    assert schemas.last_request.timeout == (10.0, 60.0)


# -- every Data API call, checked against the published spec ------------------------------

def test_every_call_matches_the_openapi_spec(hook, mint, requests_mock):
    schema = {"name": "events", "type": "event", "fields": {
        "id": {"data_type": "STRING", "unique_key": True}, "cid": {"data_type": "STRING", "identifier": True},
        "at": {"data_type": "DATETIME", "event_time": True}}}
    requests_mock.get(f"{DATA}/schema/", json=ok([schema]))
    requests_mock.post(f"{DATA}/schema/", status_code=201, json=ok(schema, 201))
    requests_mock.get(f"{DATA}/schema/events/", json=ok(schema))
    requests_mock.patch(f"{DATA}/schema/events/", json=ok({"fields": {}}))
    requests_mock.get(f"{DATA}/schematype/", json=ok([{"name": "event"}]))
    requests_mock.get(f"{DATA}/schematype/event/", json=ok({"name": "event"}))
    requests_mock.get(f"{DATA}/upload/events/", json=ok([]))
    requests_mock.post(f"{DATA}/data/events/", status_code=201, json=ok({"schema_rows": []}, 201))
    requests_mock.get(f"{DATA}/data/events/", json=ok({"schema_rows": []}))
    requests_mock.get(f"{DATA}/customer-data-privacy/gdpr/",
                      json=ok({"status": "PENDING", "description": "pending"}))

    assert hook.list_schemas(row_count=True) == [schema]
    hook.create_schema(schema)
    hook.create_schema({"name": "gdpr", "type": "customer_data_privacy", "fields": {}})
    hook.get_schema("events")
    hook.patch_schema("events", fields={"points": {"data_type": "NUMBER"}})
    hook.patch_schema("events", named_identifier="customer_id")
    hook.list_schema_types()
    hook.get_schema_type("event")
    hook.upload_history("events")
    hook.post_rows("events", [{"id": "e1", "cid": "c1", "at": "2024-05-01T12:00:00.000000Z"}])
    hook.post_rows("events", body=b'{"schema_rows":[{"id":"e2"}],"_sent_time":"2024-05-01T12:00:00Z"}')
    hook.get_record("events", "e1")
    assert hook.deletion_status("gdpr", "C42") == (DeletionStatus.PENDING, "pending")

    checked, outside = set(), set()
    for request in requests_mock.request_history:
        try:
            checked.add((request.method, check_request(request.method, request.url, request.headers, request.body)))
        except NotInSpec as exc:
            outside.add(str(exc))
    assert len(checked) == 10
    assert outside == {"/customer-data-privacy/gdpr/"}  # from the seed document, not the spec
    assert requests_mock.request_history[-1].qs == {"id": ["c42"]}  # requests-mock lower-cases qs


def test_patch_takes_fields_or_identifier_not_both(hook, requests_mock):
    with pytest.raises(Exception, match="either fields or named_identifier"):
        hook.patch_schema("x", fields={"a": {}}, named_identifier="b")
    assert requests_mock.call_count == 0


def test_spot_check_is_throttled_to_one_per_second():
    from airflow_provider_monetate.hooks.monetate import _SpotCheckThrottle

    throttle, clock, waits = _SpotCheckThrottle(), [100.0], []

    def sleep(seconds):
        waits.append(seconds)
        clock[0] += seconds

    for _ in range(3):
        throttle.wait(clock=lambda: clock[0], sleep=sleep)
    assert waits == [1.0, 1.0]


# -- test_connection ------------------------------------------------------------------------

def test_test_connection_success(hook, mint, requests_mock):
    requests_mock.get(f"{DATA}/schema/", json=ok([{"name": "a"}, {"name": "b"}]))
    good, message = hook.test_connection()
    assert good and "2 dataset(s)" in message and USER in message


@pytest.mark.parametrize(
    ("setup", "expected"),
    [
        ("public_key", "PUBLIC key"),
        ("unknown_user", "check the API username"),
        ("wrong_shortname", "shortname/environment"),
        ("deactivated", "deactivated"),
    ],
)
def test_test_connection_failures_say_what_to_fix(conn, keypair, requests_mock, setup, expected):
    hook = conn(password=keypair.public_pem) if setup == "public_key" else conn()
    if setup == "unknown_user":
        requests_mock.get(AUTH_URL, status_code=401, json=ok(None, 401))
    else:
        requests_mock.get(AUTH_URL, status_code=403 if setup == "deactivated" else 200,
                          json=token_body() if setup != "deactivated" else ok(None, 403))
        requests_mock.get(f"{DATA}/schema/", status_code=404, json=ok(None, 404))
    good, message = hook.test_connection()
    assert not good and expected in message
    assert "PRIVATE KEY" not in message


def test_no_secret_in_error_text(hook, keypair, requests_mock):
    # An API that echoes the credential back must not get it into the exception text.
    requests_mock.get(AUTH_URL, json=token_body("1.secret.token"))
    requests_mock.get(f"{DATA}/schema/", status_code=400,
                      json={"meta": {"code": 400, "errors": ["bad header Token 1.secret.token"]}})
    with pytest.raises(ApiValidationError) as info:
        hook.list_schemas()
    assert "1.secret.token" not in str(info.value)
    assert "***" in str(info.value)
    assert json.dumps(keypair.pkcs8)[:60] not in str(info.value)


def test_monetate_key_passphrase_jwt_and_token_are_masked(monkeypatch, keypair, masked, requests_mock):
    set_connection(monkeypatch, "mon", conn_type="monetate", host="https://m.test", login="api-user",
                   password=keypair.encrypted, extra={"shortname": "s", "private_key_passphrase": "s3cret-passphrase"})
    now = time.time()
    mint = requests_mock.get("https://m.test/api/auth/v0/refresh/", json={"data": {
        "token": "1.minted.token", "issued_at": now, "expires_in": 3600, "expires_at": now + 3600}})
    MonetateHook("mon").mint_token()
    jwt_sent = mint.last_request.headers["Authorization"].removeprefix("JWT ")
    assert {keypair.encrypted, "s3cret-passphrase", jwt_sent, "1.minted.token"} <= set(masked)


# -- the connection is checked once, before any call -----------------------------------------------

@pytest.mark.parametrize("configured", [-5, 100, 899, 43201, 99999, "-5"])
def test_a_ttl_outside_the_documented_range_is_refused_not_clamped(conn, requests_mock, configured):
    with pytest.raises(ConfigurationError, match=r"- token_ttl: -?\d+ is outside 900\.\.43200 seconds") as info:
        conn(token_ttl=configured).list_schemas()
    assert not isinstance(info.value, PrivateKeyError) and requests_mock.call_count == 0


@pytest.mark.parametrize("configured", ["1h", "3600.5", True, [3600]])
def test_a_ttl_that_is_not_a_whole_number_says_so(conn, requests_mock, configured):
    with pytest.raises(ConfigurationError, match=r"- token_ttl: .* is not a whole number of seconds: give an "
                                                 r"integer from 900 to 43200") as info:
        conn(token_ttl=configured).list_schemas()
    assert "got str" not in str(info.value) and requests_mock.call_count == 0


def test_a_host_with_a_path_is_refused_before_any_call(conn, requests_mock):
    # It used to address https://api.monetate.net/api/api/... and blame the dataset or shortname.
    with pytest.raises(ConfigurationError) as info:
        conn(host="https://api.monetate.net/api").list_schemas()
    message = str(info.value)
    assert "- host: 'https://api.monetate.net/api' has a path: give only scheme://host[:port], e.g. " \
           "https://api.monetate.net" in message
    assert "dataset does not exist" not in message and requests_mock.call_count == 0


def test_a_key_set_in_the_password_and_a_file_is_refused(conn, keypair, requests_mock, tmp_path):
    # The file used to be ignored silently: the key in the password was used.
    path = tmp_path / "other.pem"
    path.write_text(keypair.pkcs1)
    with pytest.raises(PrivateKeyError, match="the key is set in password and private_key_path: keep exactly one"):
        conn(private_key_path=str(path)).mint_token()
    assert requests_mock.call_count == 0


def test_every_problem_of_the_connection_is_reported_at_once(monkeypatch, requests_mock):
    set_connection(monkeypatch, "bad", conn_type="monetate", host="https://api.monetate.net/api", login="",
                   password="", extra={"algorithm": "HS256", "token_ttl": "-5"})
    with pytest.raises(ConfigurationError) as info:
        MonetateHook("bad").list_schemas()
    first, *lines = str(info.value).splitlines()
    assert first == ("Monetate connection 'bad' cannot be used; nothing was sent. "
                     "Fix host, login, shortname, algorithm, token_ttl, private key:")
    assert [line.split(":")[0] for line in lines] == [
        "- host", "- login", "- shortname", "- algorithm", "- token_ttl", "- private key"]
    assert "Monetate API username" in lines[1] and "RS256" in lines[3] and "private_key_path" in lines[5]
    assert requests_mock.call_count == 0


def test_test_connection_checks_the_connection_before_minting(conn, requests_mock):
    good, message = conn(shortname="").test_connection()
    assert not good and "- shortname: missing: set the extra 'shortname'" in message
    assert requests_mock.call_count == 0  # no token was minted first


# -- what failed, and where, when the API cannot be reached -----------------------------------------

def test_a_self_signed_certificate_is_named_with_its_host(monkeypatch, keypair, tmp_path):
    # Any TLS failure used to crash with AttributeError: 'str' object has no attribute '__context__'.
    with SelfSignedServer(tmp_path) as server:
        set_connection(monkeypatch, "tls", conn_type="monetate", host=server.url, login=USER,
                       password=keypair.pkcs8, extra={"shortname": "shop"})
        with pytest.raises(ApiUnavailableError) as info:
            MonetateHook("tls", retry=RetryPolicy(max_attempts=1)).list_schemas()
        good, message = MonetateHook("tls", retry=RetryPolicy(max_attempts=1)).test_connection()
    expected = f"TLS certificate of 127.0.0.1:{server.port} not accepted (self-signed certificate)"
    assert str(info.value).startswith(f"Monetate GET /api/auth/v0/refresh/ -> no response: {expected}")
    assert not good and expected in message and "REQUESTS_CA_BUNDLE" in message


def test_an_unresolvable_host_is_named(monkeypatch, keypair):
    name = refuse_to_resolve(monkeypatch)
    set_connection(monkeypatch, "dns", conn_type="monetate", host=name, login=USER, password=keypair.pkcs8,
                   extra={"shortname": "shop"})
    good, message = MonetateHook("dns", retry=RetryPolicy(max_attempts=1)).test_connection()
    assert not good and f"cannot resolve the host name {name}" in message


# -- no credential this hook has held is shown ----------------------------------------------------------

def test_the_jwt_in_an_html_error_page_is_not_shown_even_in_part(hook, requests_mock):
    # The page used to be cut to 200 characters before the JWT was redacted: its start was shown.
    def page(request, context):
        context.status_code, context.headers["Content-Type"] = 401, "text/html"
        return "<html><body><h1>Unauthorized</h1>" + "." * 140 + f"<pre>{request.headers['Authorization']}</pre>"

    mint = requests_mock.get(AUTH_URL, text=page)
    with pytest.raises(ApiAuthError) as info:
        hook.list_schemas()
    sent = mint.last_request.headers["Authorization"].removeprefix("JWT ")
    assert not [sent[i:i + 8] for i in range(len(sent) - 7) if sent[i:i + 8] in str(info.value)]
    assert "JWT ***" in str(info.value)


def test_a_body_echoing_the_token_renewed_away_does_not_show_it(hook, requests_mock):
    requests_mock.get(AUTH_URL, [{"json": token_body("1.old.token")}, {"json": token_body("1.new.token")}])
    requests_mock.get(f"{DATA}/schema/", [
        {"status_code": 401, "json": ok(None, 401)},
        {"status_code": 400, "json": {"meta": {"code": 400, "errors": ["token 1.old.token was revoked"]}}}])
    with pytest.raises(ApiValidationError) as info:
        hook.list_schemas()
    assert "1.old.token" not in str(info.value) and "token *** was revoked" in str(info.value)


def test_a_line_of_the_private_key_echoed_is_not_shown(hook, keypair, mint, requests_mock):
    line = keypair.pkcs8.splitlines()[5]
    requests_mock.get(f"{DATA}/schema/", status_code=400, json={"meta": {"code": 400, "errors": [f"bad {line}"]}})
    with pytest.raises(ApiValidationError) as info:
        hook.list_schemas()
    assert line not in str(info.value) and "bad ***" in str(info.value)


@pytest.mark.parametrize(("extra", "line"), [
    ({"shortname": "shop/production"}, "- shortname: 'shop/production' is not one path segment"),
    ({"environment": "production "}, "- environment: 'production ' is not one path segment"),
])
def test_shortname_and_environment_are_one_path_segment(conn, requests_mock, extra, line):
    with pytest.raises(ConfigurationError, match=line):
        conn(**extra).list_schemas()
    assert requests_mock.call_count == 0


# -- deletion status under every reading of the documents (issue 12) -------------------------------------------

NOT_HELD_WORDS = "The customer_id C1 has not been found within Monetate's data stores."


@pytest.mark.parametrize(("status", "words", "read"), [
    ("NOT_FOUND", "x", DeletionStatus.NOT_FOUND),
    (2, NOT_HELD_WORDS, DeletionStatus.NOT_FOUND),  # the spec's integer: the words decide
    (0, "The customer_id C1 has been found within Monetate's data stores and is pending removal.",
     DeletionStatus.PENDING),
    (2, "Status 2.", DeletionStatus.UNKNOWN),
])
def test_deletion_status_reads_names_and_integer_codes(hook, mint, requests_mock, status, words, read):
    requests_mock.get(f"{DATA}/customer-data-privacy/gdpr/", json=ok({"status": status, "description": words}))
    assert hook.deletion_status("gdpr", "C1") == (read, words)


def test_a_404_for_an_id_of_an_existing_privacy_dataset_is_not_found(hook, mint, requests_mock):
    requests_mock.get(f"{DATA}/customer-data-privacy/gdpr/", status_code=404,
                      json={"meta": {"code": 404, "errors": [{"message": NOT_HELD_WORDS}]}, "data": None})
    schema = requests_mock.get(f"{DATA}/schema/gdpr/", json=ok({"name": "gdpr", "type": "customer_data_privacy"}))
    assert hook.deletion_status("gdpr", "C1")[0] is DeletionStatus.NOT_FOUND
    assert hook.deletion_status("gdpr", "C2")[0] is DeletionStatus.NOT_FOUND
    assert schema.call_count == 1  # the dataset is checked once per hook


@pytest.mark.parametrize("schema", [None, {"name": "gdpr", "type": "attribute"}])
def test_a_404_is_an_error_when_the_dataset_is_missing_or_no_privacy_dataset(hook, mint, requests_mock, schema):
    requests_mock.get(f"{DATA}/customer-data-privacy/gdpr/", status_code=404, json=ok(None, 404))
    requests_mock.get(f"{DATA}/schema/gdpr/", status_code=404 if schema is None else 200,
                      json=ok(schema, 404 if schema is None else 200))
    with pytest.raises(ApiNotFoundError, match="customer-data-privacy/gdpr/ -> 404"):
        hook.deletion_status("gdpr", "C1")
