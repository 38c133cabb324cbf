"""wakeful's Alembic environment: `env.py`, and one file per schema revision in `versions/`.

A store runs it itself when it opens (`wakeful.storage.migrate`); nobody runs `alembic`. A change
to `storage/schema.py` comes with one new file in `versions/`: its `down_revision` is the newest
revision before it, and its `upgrade` spells the change out (never importing `schema`, which moves
on). Revisions are appended, never edited.
"""
