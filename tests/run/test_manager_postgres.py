"""The run manager's tests (test_manager.py) again, on PostgreSQL instead of a MemoryStore: the same
behaviour when each store write is a real transaction on a pool of connections."""

from __future__ import annotations

import pytest

from tests.run.test_manager import *  # noqa: F403  (the tests, collected here too)
from wakeful.storage.base import Store
from wakeful.storage.sql import SQLStore

pytestmark = pytest.mark.postgres


@pytest.fixture
def store(postgres_store: SQLStore) -> Store:
    return postgres_store
