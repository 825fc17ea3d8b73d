"""``ChatPrompt``: a prompt text that also carries a system message for chat templates.

A ``str`` subclass, so every sampler and metric treats it as the prompt text; the Hugging Face policy
reads ``.messages`` (a whole conversation) or ``.system`` and builds the chat from them (without a chat
template: the text, after the system message). The tasks give a system message with :func:`with_system`.
"""

from __future__ import annotations


class ChatPrompt(str):
    """Prompt text plus an optional ``system`` message, or a whole conversation (``messages``: a list of
    ``{"role", "content"}`` dicts, TRL's conversational format; the text is then its contents joined)."""

    system: str
    messages: tuple

    def __new__(cls, text: str, system: str = "", messages=()) -> ChatPrompt:  # noqa: PYI034
        obj = super().__new__(cls, text)
        obj.system = system
        obj.messages = tuple(dict(m) for m in messages)
        return obj

    @classmethod
    def from_messages(cls, messages) -> ChatPrompt:
        """A conversation (its text: the contents, one paragraph each)."""
        return cls("\n\n".join(str(m["content"]) for m in messages), "", messages)

    def __reduce__(self):
        return (ChatPrompt, (str(self), self.system, self.messages))


def with_system(text: str, system: str) -> str:
    """``text`` after the system message ``system``, as a conversation (system, then user) whose text holds both
    (one paragraph each): the chat template gets the two messages, and what the samples show and the small GPT
    reads is that text, system message included. ``text`` itself when ``system`` is empty."""
    if not system:
        return text
    return ChatPrompt.from_messages([{"role": "system", "content": system}, {"role": "user", "content": text}])
