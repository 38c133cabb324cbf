"""Tools: the Tool seam and the built-in tools (bash, read, write, edit, glob, grep, list, todo)."""
