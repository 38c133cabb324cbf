"""The wire: pydantic models of everything on the HTTP API (sessions, messages, parts, request bodies,
events, errors aside). The one contract the server and the client both import; no behaviour."""
