"""Fixtures for the client tests: a `Client` on the module's server, and small helpers."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests.support.proxy import Proxy
from tests.support.server import WakefulProcess
from wakeful.client import Client


def unique(prefix: str = "k") -> str:
    """A fresh HOLD key / script marker: the scripted LLM is shared by the module."""
    return f"{prefix}{uuid.uuid4().hex[:10]}"


@pytest.fixture
def client(server: WakefulProcess) -> Iterator[Client]:
    with Client(server.url, backoff=0.05) as c:
        yield c


@pytest.fixture
def proxy(server: WakefulProcess) -> Iterator[Proxy]:
    with Proxy(server.url) as p:
        yield p
