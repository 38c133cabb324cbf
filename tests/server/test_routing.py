"""Request bodies are JSON as RFC 8259 defines it: what is accepted can be stored and sent again."""

from __future__ import annotations

import json

import pytest

from wakeful.server.routing import decode_json


@pytest.mark.parametrize(
    "body",
    [
        rb'{"t":"\ud800"}',  # a lone high surrogate
        rb'{"t":"\udc00"}',  # a lone low surrogate
        rb'{"t":"\ud83dx"}',  # a high surrogate not followed by its low half
        rb'{"t":"\ude00\ud83d"}',  # the halves in the wrong order
        b'{"t":"\xed\xa0\x80"}',  # a surrogate encoded as UTF-8 bytes
        b'{"n":NaN}',
        b'{"n":Infinity}',
        b'{"n":-Infinity}',
        b'{"n":1e400}',
        b'{"n":-1e999}',
        b'{"n":' + b"9" * 400 + b".0}",
        b'{"a":1',
        b"[" * 300 + b"]" * 300,  # deeper than pydantic's parser goes (about 200 levels)
    ],
)
def test_what_could_not_be_stored_or_sent_again_is_refused(body: bytes) -> None:
    with pytest.raises((json.JSONDecodeError, UnicodeDecodeError)):
        decode_json(body)


def test_valid_json_decodes_as_the_standard_library_does() -> None:
    body = rb'{"pair":"\ud83d\ude00","escaped":"\\ud800","n":1e308,"big":' + b"9" * 400 + b',"neg":-0.5}'
    assert decode_json(body) == json.loads(body)
    assert decode_json(body)["pair"] == "\U0001f600"
    assert decode_json(body)["escaped"] == "\\ud800"  # an escaped backslash, not a surrogate
    deep = b"[" * 150 + b"]" * 150
    assert decode_json(deep) == json.loads(deep)
