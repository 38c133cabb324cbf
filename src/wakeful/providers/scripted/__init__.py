"""The scripted model: answers what the prompt's script says, in-process (see `language`)."""

from wakeful.providers.scripted.provider import Received, ScriptedProvider

__all__ = ["Received", "ScriptedProvider"]
