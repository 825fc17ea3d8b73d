"""Hugging Face BPE tokenizers trained here on a small corpus, for the step-text and stop-string tests
(nothing is downloaded): byte-level like GPT-2/SmolLM2, and Metaspace with byte fallback like SentencePiece."""

import transformers

CORPUS = [
    "Step 1: add 3 and 4.\n\nStep 2: the sum is 7.\n\n",
    "First, café au lait.\n\nThen 🙂 we rest.\n\n",
    "x = 12 + 30\n\ny = x * 2\n\nanswer: 84\n\n",
    "Think.\n\n\n\nDone. Résumé ✓\n\n",
] * 20


def byte_level_bpe(added: tuple[str, ...] = ()):
    """Vocabulary of 300: "é", "🙂" and "✓" stay split over byte tokens (unfinished characters); ``added``:
    extra non-special tokens (e.g. one holding spaces and a newline)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=300, special_tokens=["<eos>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    if added:
        tok.add_tokens([AddedToken(text, normalized=False) for text in added])
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<eos>")


def metaspace_bpe():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Sequence([decoders.ByteFallback(), decoders.Metaspace()])
    byte_tokens = [f"<0x{b:02X}>" for b in range(256)]
    tok.train_from_iterator(CORPUS, trainers.BpeTrainer(vocab_size=400,
                                                        special_tokens=["<unk>", "<eos>"] + byte_tokens))
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<eos>", pad_token="<eos>",
                                                unk_token="<unk>")
