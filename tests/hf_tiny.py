"""Tiny Hugging Face pieces built in memory for tests: nothing is downloaded."""

import transformers

CHARS = "0123456789+-*=;, >:abcdefghijklmnopqrstuvwxyz<|>/\n"


def local_tokenizer(chat_template: bool = True, chars: str = CHARS):
    """A character-level fast tokenizer over ``chars`` (pad 0, bos 1, eos 2), optionally with a minimal chat
    template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {"<pad>": 0, "<s>": 1, "</s>": 2}
    for ch in chars:
        vocab.setdefault(ch, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<pad>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tok.decoder = decoders.Fuse()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", bos_token="<s>",
                                                eos_token="</s>")
    if chat_template:
        fast.chat_template = "{% for m in messages %}<{{ m['role'] }}>{{ m['content'] }}{% endfor %}" \
                             "{% if add_generation_prompt %}<a>{% endif %}"
    return fast


def tiny_llama_config(vocab_size: int) -> "transformers.LlamaConfig":
    return transformers.LlamaConfig(vocab_size=vocab_size, hidden_size=32, intermediate_size=64,
                                    num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                                    max_position_embeddings=128, pad_token_id=0, eos_token_id=2)


def tiny_hf_policy(kind: str = "llama"):
    """A random tiny ``HFPolicy`` (``kind`` 'llama' or 'gpt2') with :func:`local_tokenizer`, in eval mode
    (no dropout); weights drawn after ``torch.manual_seed(0)``."""
    import torch

    from treecredit.models import HFPolicy

    tok = local_tokenizer()
    torch.manual_seed(0)
    if kind == "llama":
        cfg = tiny_llama_config(len(tok))
    else:
        cfg = transformers.GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2, n_positions=128,
                                      pad_token_id=0, eos_token_id=2)
    return HFPolicy(transformers.AutoModelForCausalLM.from_config(cfg).eval(), tok)
