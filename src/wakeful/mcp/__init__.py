"""MCP servers: their tools offered to runs, their status and resources to the API.

`config` reads a project's `mcp` entries, `stdio` runs a local server's process, `connection` keeps
one server connected, `tool` turns its tools into wakeful tools, `processes` records local servers'
process groups for crash recovery, and `manager` holds them all for the runtime. Nothing here
imports the `mcp` SDK at import time (see `manager`).
"""
