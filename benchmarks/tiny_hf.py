"""A character-level Hugging Face tokenizer built locally, for the benchmarks' random models (no download)."""

from __future__ import annotations


def char_tokenizer(chars: str, specials: tuple[str, ...], **special_tokens):
    """Ids 0.. are ``specials`` then each character of ``chars``; ``special_tokens`` name their roles
    (``pad_token=``, ``eos_token=``, ...); an unknown character maps to ``unk_token`` (else the first special)."""
    import transformers
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {token: i for i, token in enumerate(specials)}
    for ch in chars:
        vocab.setdefault(ch, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token=special_tokens.get("unk_token", specials[0])))
    tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tok.decoder = decoders.Fuse()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, **special_tokens)
