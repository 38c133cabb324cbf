"""The routers of the API, one module per area."""
