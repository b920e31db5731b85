"""JSON in and out at the edge: what `loads` reads, refuses, and how `json_response` writes."""

import json
from decimal import Decimal

import pytest

from services.common.http import json_response, loads


@pytest.mark.parametrize(
    "raw",
    [
        b'{"price": 19.90, "stock": 10, "big": 1e400}',
        '{"name": "caf\\u00e9", "tags": []}',
        '{"name": "café"}'.encode("utf-16"),
        '{"name": "café"}'.encode("utf-32-le"),
        b'\xef\xbb\xbf{"with": "a byte order mark"}',
    ],
)
def test_bodies_are_read_as_json_loads_reads_them_with_decimals(raw):
    assert loads(raw) == json.loads(raw, parse_float=Decimal)
    assert all(not isinstance(v, float) for v in loads(raw).values())


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b'{"price": NaN}', "NaN is not valid JSON"),
        (b'{"price": -Infinity}', "-Infinity is not valid JSON"),
        (b'{"price": 1', "Expecting ',' delimiter: line 1 column 12 (char 11)"),
        ("\ufeff{}", "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)"),
        (b"\x80{}", "can't decode byte 0x80"),
    ],
)
def test_what_is_not_json_is_refused_with_json_loads_own_message(raw, error):
    with pytest.raises(ValueError, match=error.replace("(", r"\(").replace(")", r"\)")):
        loads(raw)


def test_answers_write_decimals_as_json_numbers_with_their_digits():
    body = {"price": Decimal("19.90"), "total": Decimal("10.00"), "items": [{"n": "é"}]}

    answer = json_response(body, 201, {"ETag": '"1"'})

    assert answer.get_data(as_text=True) == '{"price":19.9,"total":10,"items":[{"n":"\\u00e9"}]}'
    assert (answer.status_code, answer.mimetype, answer.headers["ETag"]) == (
        201,
        "application/json",
        '"1"',
    )
