"""Token accounting of a run: the model's window, and what a request will cost before it is sent.

The provider's usage is the truth, and is stored per step (`step-finish.tokens`). Before a request
goes out, its size is estimated: a quarter of its characters, plus a few tokens of framing per
message (the usual rate of BPE tokenizers on English and code). A tokenizer was not worth it: the
tokenizer of most models behind an OpenAI-compatible URL is unknown, Anthropic publishes none, and
one per family would cost megabytes and milliseconds per step. Instead the estimate is calibrated:
after each step, the ratio of the prompt tokens the provider counted to the estimate of that
request (never below 1) scales the next estimates, so a model whose tokenizer is denser than the
rule of thumb is measured, not guessed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass

from wakeful.project.models import ModelLimits
from wakeful.providers.base import ChatMessage, ToolDefinition

CHARS_PER_TOKEN = 4
MESSAGE_FRAMING = 4  # role and separators, per message
ATTACHMENT_TOKENS = 1_500  # an image or document, whatever its bytes
# The reference keeps at most this much room for the answer when deciding whether a request fits.
RESERVE_MAX = 20_000
# A compaction's summary is asked to fit in this many tokens at most.
SUMMARY_MAX = 8_192


def text_tokens(chars: int) -> int:
    return math.ceil(chars / CHARS_PER_TOKEN)


def message_tokens(message: ChatMessage) -> int:
    chars = len(message.text) + len(message.reasoning)
    chars += sum(len(c.name) + len(c.arguments) for c in message.tool_calls)
    return MESSAGE_FRAMING + text_tokens(chars) + ATTACHMENT_TOKENS * len(message.attachments)


def messages_tokens(messages: Iterable[ChatMessage]) -> int:
    return sum(message_tokens(m) for m in messages)


def fixed_tokens(system: list[str], tools: list[ToolDefinition]) -> int:
    """What every request of a run carries besides the conversation: the system texts and tools."""
    chars = sum(len(s) for s in system) + sum(_tool_chars(t) for t in tools)
    return text_tokens(chars) + MESSAGE_FRAMING * len(system)


def _tool_chars(tool: ToolDefinition) -> int:
    chars: int | None = tool.wire.get("chars")  # a definition is counted once, not per run
    if chars is None:
        chars = tool.wire["chars"] = len(tool.name) + len(tool.description) + len(json.dumps(tool.parameters))
    return chars


@dataclass(frozen=True)
class Window:
    """The part of a model's context window a run may fill.

    `context` is the model's input limit (or its context limit), 0 when unknown; `max_output` the
    output tokens a step asks for (None: the provider's default); `reserved` the room kept for the
    answer (`compaction.reserved`, by default the smaller of `max_output` and 20,000, and never more
    than a quarter of a known window). A request fits when its estimate is at most `usable`."""

    context: int
    max_output: int | None
    reserved: int

    @classmethod
    def of(cls, limits: ModelLimits, max_output: int | None, reserved: int | None) -> Window:
        context = limits.input or limits.context
        if reserved is None:
            reserved = min(RESERVE_MAX, max_output or RESERVE_MAX)
            if context:
                reserved = min(reserved, context // 4)
        return cls(context, max_output, reserved)

    @property
    def known(self) -> bool:
        return self.context > 0

    @property
    def usable(self) -> int:
        return max(0, self.context - self.reserved) if self.known else 0

    def answer_room(self, prompt: int, extra: int = 0) -> int | None:
        """The output tokens to ask for with a prompt of `prompt` tokens: `max_output`, less when
        the window has no more room (`extra`: output the provider adds, such as thinking)."""
        if not self.known:
            return self.max_output
        room = max(1, self.context - prompt - extra)
        return room if self.max_output is None else min(self.max_output, room)

    @property
    def summary_max(self) -> int:
        """The output tokens a compaction summary may take."""
        cap = self.max_output or SUMMARY_MAX
        if self.known:
            cap = min(cap, max(256, self.context // 4))
        return min(cap, SUMMARY_MAX)

    def learned(self, context: int) -> Window:
        """This window once a request of about `context` tokens was refused as too long."""
        if self.known:
            return self
        return Window.of(ModelLimits(context=context), self.max_output, None)
