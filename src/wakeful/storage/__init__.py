"""Storage: the Store protocols (one per aggregate) and their SQLite and in-memory implementations."""
