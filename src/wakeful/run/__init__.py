"""Runs: the run manager, the agent loop, tool calls, history, and building prompt, command and shell
runs from request bodies. Never imports the server: a run outlives any request."""
