"""Taking over runs (test_takeover.py) again, on PostgreSQL instead of a MemoryStore."""

from __future__ import annotations

import pytest

from tests.run.test_takeover import *  # noqa: F403  (the tests, collected here too)
from wakeful.storage.base import Store
from wakeful.storage.sql import SQLStore

pytestmark = pytest.mark.postgres


@pytest.fixture
def store(postgres_store: SQLStore) -> Store:
    return postgres_store
