"""The schema revisions, oldest first by `down_revision`. Alembic reads these files itself."""
