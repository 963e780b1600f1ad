"""Error messages from an API's answer: every credential redacted before anything is cut, on both clients.

Each case is played through the hooks' :class:`ApiSession` (requests) and the trigger's
:class:`AsyncApiClient` (httpx), which must redact alike: the redaction is one function.
"""

from __future__ import annotations

import asyncio
import base64

import httpx
import pytest
import requests_mock as rm

from airflow_provider_monetate.exceptions import ApiError, ApiValidationError
from airflow_provider_monetate.http import ApiSession, AsyncApiClient, Redactor, RetryPolicy
from airflow_provider_monetate.http._errors import MAX_TEXT

BASE = "https://api.test"
JWT = "eyJhbGciOiJSUzI1NiJ9.eyJ1c2VybmFtZSI6ImFwaS0xMjMtZXRsIn0.c2lnbmF0dXJlLXRoYXQtaXMtbG9uZw"


class Renewing:
    """A credential that sends ``tokens`` in turn, moving to the next after each 401."""

    def __init__(self, *tokens: str) -> None:
        self.tokens, self.index = tokens, 0

    def header(self) -> str:
        return self.tokens[self.index]

    def renew(self, rejected: str) -> None:
        self.index += 1


class AsyncRenewing(Renewing):
    async def renew(self, rejected: str) -> None:
        self.index += 1


def sync_call(answers: list[tuple[int, str, str]], credential=None, redactor=None, **call) -> ApiError:
    """One GET through ApiSession; ``answers`` are ``(status, content type, body)`` in turn."""
    session = ApiSession("Monetate", BASE, credential=credential, retry=RetryPolicy(max_attempts=3),
                         sleep=lambda s: None, **({"redactor": redactor} if redactor else {}))
    with rm.Mocker() as mocker:
        mocker.get(f"{BASE}/x/", [{"status_code": s, "text": b, "headers": {"Content-Type": t}}
                                  for s, t, b in answers])
        with pytest.raises(ApiError) as info:
            session.request("GET", "/x/", **call)
    return info.value


def async_call(answers: list[tuple[int, str, str]], credential=None, redactor=None, **call) -> ApiError:
    """The same GET through AsyncApiClient."""
    pending = iter(answers)

    def handler(request: httpx.Request) -> httpx.Response:
        status, content_type, body = next(pending)
        return httpx.Response(status, headers={"Content-Type": content_type}, text=body)

    client = AsyncApiClient("Monetate", credential=credential, retry=RetryPolicy(max_attempts=3),
                            sleep=_no_wait, **({"redactor": redactor} if redactor else {}))
    headers = {"Authorization": call.pop("authorization")} if "authorization" in call else None

    async def main():
        async with httpx.AsyncClient(base_url=BASE, transport=httpx.MockTransport(handler)) as http:
            await client.request(http, "GET", "/x/", headers=headers, **call)

    with pytest.raises(ApiError) as info:
        asyncio.run(main())
    return info.value


async def _no_wait(seconds: float) -> None:
    pass


BOTH = pytest.mark.parametrize("call", [sync_call, async_call], ids=["session", "async_client"])


def pieces(secret: str, size: int = 8) -> list[str]:
    """Every ``size``-character piece of ``secret``: none may be shown, however the text was cut."""
    return [secret[i:i + size] for i in range(len(secret) - size + 1)]


def shown(secret: str, text: str) -> list[str]:
    return [piece for piece in pieces(secret) if piece in text]


@BOTH
def test_a_token_across_the_cut_of_a_text_body_is_not_shown_in_part(call):
    # The old code cut a text body to 200 characters and only then redacted the whole token,
    # so the token's first characters were shown.
    body = "<html><body>" + "x" * (MAX_TEXT - 30) + f" rejected JWT {JWT} for this request</body></html>"
    error = call([(400, "text/html", body)], authorization=f"JWT {JWT}")
    assert not shown(JWT, str(error)) and "***" in str(error) and len(error.messages[0]) <= MAX_TEXT + 3


@BOTH
def test_a_body_echoing_the_token_renewed_away_does_not_show_it(call):
    credential = (AsyncRenewing if call is async_call else Renewing)("Token old-token-0001", "Token new-token-0002")
    error = call([(401, "application/json", '{"meta": {"errors": ["expired"]}}'),
                  (400, "application/json", '{"meta": {"errors": ["earlier Token old-token-0001 was revoked"]}}')],
                 credential=credential)
    assert isinstance(error, ApiValidationError)
    assert error.messages == ["earlier Token *** was revoked"]


@BOTH
def test_every_credential_the_redactor_holds_is_redacted_in_every_form(call):
    redactor = Redactor()
    redactor.add_basic("integration", "pa55word-long")
    basic = base64.b64encode(b"integration:pa55word-long").decode()
    body = f"user integration, password pa55word-long, header Basic {basic}"
    error = call([(403, "text/plain", body)], redactor=redactor)
    assert error.messages == ["user integration, password ***, header Basic ***"]


@BOTH
def test_a_basic_credential_sent_is_redacted_with_its_password(call):
    basic = base64.b64encode(b"integration:s3cret-pw").decode()
    error = call([(400, "text/plain", f"Basic {basic} (password s3cret-pw) is locked")],
                 authorization=f"Basic {basic}")
    assert error.messages == ["Basic *** (password ***) is locked"]


def test_a_pem_key_is_redacted_line_by_line(keypair):
    redactor = Redactor()
    redactor.add_pem(keypair.pkcs8)
    body_line = keypair.pkcs8.splitlines()[3]
    text = redactor.redact(f"bad key line {body_line} and the whole key {keypair.pkcs8!r}")
    assert body_line not in text and not shown(body_line, text)
    assert "PRIVATE KEY" in text  # the armour is not a secret; what it wraps is


def test_longer_secrets_are_redacted_before_the_secrets_they_contain():
    redactor = Redactor()
    redactor.add("abcdef123456")
    redactor.add("abcdef123456-extended-form")
    assert redactor.redact("x abcdef123456-extended-form y") == "x *** y"


def test_empty_and_repeated_secrets():
    redactor = Redactor()
    assert redactor.add("") is False and redactor.add(None) is False
    assert redactor.add("tok-1234") is True and redactor.add("tok-1234") is False
    assert "tok-1234" in redactor and redactor.redact("") == ""
