"""Request bodies decode as ``json`` would decode them, whichever decoder reads them."""

from __future__ import annotations

import json
import math

import pytest

from airflow_provider_monetate.testing.wire import Request, Response


def request(body: bytes) -> Request:
    return Request("POST", "/x", {}, "", {}, body)


@pytest.mark.parametrize("body", [b'{"a": [1, 2.5, "\\u00e9"], "b": null}', b'\xef\xbb\xbf{"a": 1}',
                                  b'{"a": "\\ud800"}', b'{"a": 1, "a": 2}'])
def test_bodies_decode_as_json_does(body):
    assert request(body).json() == json.loads(body)


def test_nan_is_read_as_json_reads_it_so_the_rules_can_refuse_it():
    assert math.isnan(request(b'{"a": NaN}').json()["a"])


@pytest.mark.parametrize("body", [b"{", b"", b'{"a": 1} x'])
def test_bad_bodies_raise_value_error(body):
    with pytest.raises(ValueError):
        request(body).json()


def test_responses_are_compact_utf8_json():
    assert Response(200, {"a": "é", "b": [1, None]}).encode() == '{"a":"é","b":[1,null]}'.encode()
    assert Response(204).encode() == b""
