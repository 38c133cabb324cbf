"""The run manager's tests (test_manager.py) again, on PostgreSQL instead of a MemoryStore: the same
behaviour when each store write is a real transaction on a pool of connections."""

from __future__ import annotations

import pytest

from tests.run.test_manager import *  # noqa: F403  (the tests, collected here too)
from wakeful.storage.base import Store
from wakeful.storage.sql import SQLStore

pytestmark = pytest.mark.postgres

# Its 0.05 s deadline must fall after the model's first chunk is stored, a wall-clock bound that a
# few PostgreSQL round trips on a busy machine can exceed; its logic does not depend on the store.
del test_a_run_past_its_deadline_is_aborted_and_keeps_what_it_streamed  # noqa: F821


@pytest.fixture
def store(postgres_store: SQLStore) -> Store:
    return postgres_store
