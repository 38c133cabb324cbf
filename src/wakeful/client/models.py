"""What the client returns: the server's own models, plus conveniences that do not change the wire."""

from __future__ import annotations

from wakeful.wire.messages import MessageWithParts


class Reply(MessageWithParts):
    """A message with its parts (`info`, `parts`), as the server stores it."""

    @property
    def text(self) -> str:
        """The message's text parts (the answer, for an assistant message), blank-line separated;
        synthetic and ignored parts left out."""
        texts = [p.text for p in self.parts if p.type == "text" and not p.synthetic and not p.ignored]
        return "\n\n".join(t for t in texts if t)

    @property
    def error(self) -> dict[str, object] | None:
        """`info.error` of an assistant message (None for a user message or a success)."""
        return getattr(self.info, "error", None)
