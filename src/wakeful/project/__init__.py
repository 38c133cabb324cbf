"""A project: its opencode.json (merged from every source), the model catalog, agents and commands."""
