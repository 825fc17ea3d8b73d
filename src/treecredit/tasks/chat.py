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


def plain_text_chat_note(problems: list, model: str) -> str:
    """The note for a run whose prompts (``problems``' ``prompt``) include chat messages (a conversation, or a
    system message with the prompt) while the tokenizer of ``model`` has no chat template and ``--chat-template``
    is ``auto``: they go in as plain text, the messages' contents one paragraph each, their roles dropped. ''
    when no prompt holds messages."""
    chats = sum(bool(getattr(p.prompt, "messages", ())) for p in problems)
    if not chats:
        return ""
    return (f"note: {chats} of the {len(problems)} prompts looked at are chat messages, but the tokenizer of {model} "
            "has no chat template, so under --chat-template auto they go in as plain text: the messages' contents, "
            "one paragraph each, their roles dropped. Pass a chat model (its tokenizer has a chat_template), or "
            "--chat-template off to say plain text is meant (then no note).")
