"""A Hugging Face agent's tokenizer checked before any work: the action played in the pre-flight step, with the
end-of-action marker after it, encoded and decoded as the episodes do (``HFPolicy.encode``, then
:func:`~treecredit.text_pieces.policy_decode`), must still be an action that the env's ``parse_action`` accepts.
A tokenizer that does not give back the text it encodes (a word-level or character-level ``tokenizers`` object
without a decoder joins its tokens with spaces: ``right`` comes back as ``r i g h t``) would make every action
the model writes invalid, and the run would train on no-ops without a word."""

from __future__ import annotations

from treecredit._validation import fail

ROUND_TRIP_FIX = ("use a tokenizer that decodes what it encodes (tokenizer.decode(tokenizer.encode(text, "
                  "add_special_tokens=False)) == text); for a word-level or character-level `tokenizers` tokenizer, "
                  "set its decoder, e.g. `tok.backend_tokenizer.decoder = tokenizers.decoders.Fuse()` before "
                  "save_pretrained (docs/agents.md, 'A tiny local model and tokenizer for trials')")


def check_round_trip(tokenizer, model: str, env, action: str | None, settings) -> None:
    """Refuse (``model``, naming the tokenizer's class, what came back and the fix) a ``tokenizer`` whose decoding of
    ``action`` + ``settings.marker`` is no action ``env.parse_action`` accepts, cut at the marker as an episode
    cuts it. ``action``: the text the pre-flight step played (None: the env offered none, nothing to check)."""
    from treecredit.agents.episodes import env_call
    from treecredit.text_pieces import policy_decode

    if action is None:
        return
    ids = list(tokenizer(action + settings.marker, add_special_tokens=False)["input_ids"])
    text = policy_decode(tokenizer, ids, ())
    cut = text.split(settings.marker)[0] if settings.marker in text else text
    if env_call(env, "parse_action", cut) is not None:
        return
    name, kind = type(env).__name__, type(tokenizer).__name__
    fail("model", f"the tokenizer of {model} ({kind}) does not give back the text it encodes: the action "
         f"{action!r} with the marker {settings.marker!r} after it decodes to {text!r}, which {name}.parse_action "
         "refuses, so no action the model writes could be read (every turn would be an invalid no-op)",
         ROUND_TRIP_FIX)
