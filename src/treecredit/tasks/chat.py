"""``ChatPrompt``: a prompt text that also carries a system message for chat templates.

A ``str`` subclass, so every sampler and metric treats it as the prompt text; the Hugging Face policy
reads ``.system`` and puts it in a system message (or in front of the text when no chat template is
used).
"""

from __future__ import annotations


class ChatPrompt(str):
    """Prompt text plus an optional ``system`` message."""

    system: str

    def __new__(cls, text: str, system: str = "") -> ChatPrompt:  # noqa: PYI034
        obj = super().__new__(cls, text)
        obj.system = system
        return obj

    def __reduce__(self):
        return (ChatPrompt, (str(self), self.system))
