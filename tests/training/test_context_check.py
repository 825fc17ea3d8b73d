"""Pre-flight checks of a Hugging Face model against the run: its positions hold the longest prompt (as the
run encodes it) plus --max-new-tokens, its tokenizer fits its vocabulary, it has an end-of-sequence token;
and every prompt of a fixed dataset is measured (the small GPT's check too), not a sample."""

import json
import warnings

import pytest
import torch

torch.set_num_threads(1)
transformers = pytest.importorskip("transformers")

from hf_tiny import local_tokenizer, tiny_llama_config  # noqa: E402
from treecredit.models import HFPolicy  # noqa: E402
from treecredit.tasks import task_from_config  # noqa: E402
from treecredit.training.config import TrainConfig  # noqa: E402
from treecredit.training.preflight import check_run  # noqa: E402


def _save(folder, tok, config):
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def _gpt2(folder, positions=64, vocab=None):
    tok = local_tokenizer()
    return _save(folder, tok, transformers.GPT2Config(vocab_size=vocab or len(tok), n_embd=16, n_layer=1, n_head=2,
                                                      n_positions=positions, pad_token_id=0, eos_token_id=2))


def _llama(folder, tok=None):
    tok = tok or local_tokenizer()
    return _save(folder, tok, tiny_llama_config(len(tok)))  # 128 positions


def _dataset(path, prompts):
    path.write_text("".join(json.dumps({"prompt": p, "answer": "3"}) + "\n" for p in prompts))
    return str(path)


def _config(tmp_path, model, dataset, **overrides):
    values = dict(model=model, dataset=dataset, out=str(tmp_path / "run"), steps=1, prompts_per_step=2, group_size=2,
                  max_new_tokens=8, eval_problems=2, progress=False, tensorboard=False,
                  cache_dir=str(tmp_path / "cache"))
    return TrainConfig(**{**values, **overrides})


SHORT = [f"what is {i % 10}+{i % 7}?" for i in range(40)]


def test_a_prompt_longer_than_a_gpt2s_positions_is_refused_naming_the_dataset(tmp_path):
    """Before: no check for Hugging Face models; the run crashed at its first evaluation with a bare IndexError."""
    data = _dataset(tmp_path / "d.jsonl", SHORT[:30] + ["x" * 100 + "what is 1+2?"] + SHORT[30:])
    config = _config(tmp_path, _gpt2(tmp_path / "gpt2"), data)
    with pytest.raises(ValueError, match=r"^dataset: the model in .* holds 64 positions \(n_positions\), but the "
                       r"longest prompt .* too long: 1 of \d+ prompts .*'xxxx.*what is 1\+2\?'\. Fix: leave out or "
                       r"shorten the prompts longer than 56 tokens as encoded \(the chat template's own tokens "
                       r"included\)"):
        check_run(config)
    assert not (tmp_path / "run" / "metrics.jsonl").exists()


def test_max_new_tokens_past_the_positions_is_refused_with_the_largest_that_fits(tmp_path):
    """The longest prompt is measured as the run encodes it (chat template, system prompt): the largest
    --max-new-tokens that fits is accepted, one more is refused naming --max-new-tokens and that value."""
    model = _llama(tmp_path / "llama")
    data = _dataset(tmp_path / "d.jsonl", SHORT)
    options = {"system_prompt": "answer briefly"}
    policy = HFPolicy.from_pretrained(model)
    task = task_from_config(_config(tmp_path, model, data, task_options=options))
    longest = max(len(policy.encode_prompt(task.format_prompt(p))) for p in task.train_problems)
    assert longest > len("answer briefly") + len(max(SHORT, key=len))  # the template and system message count
    fits = 128 - longest
    check_run(_config(tmp_path, model, data, task_options=options, max_new_tokens=fits))
    with pytest.raises(ValueError, match=rf"^max_new_tokens: the model in .* holds 128 positions "
                       rf"\(max_position_embeddings\), but the longest prompt \(in the chat template, as the run "
                       rf"encodes it\) has {longest} tokens, which with --max-new-tokens {fits + 1} needs 129.*"
                       rf"Fix: pass --max-new-tokens {fits} or less"):
        check_run(_config(tmp_path, model, data, task_options=options, max_new_tokens=fits + 1))


def test_every_row_of_a_dataset_is_measured_not_a_sample(tmp_path):
    """One long row among 300: a sample of 64 training draws missed it (the small GPT's check let it through)."""
    rows = [f"{i % 10}+{i % 9}=" for i in range(300)]
    rows[150] = "y" * 120 + rows[150]
    data = _dataset(tmp_path / "d.jsonl", rows)
    with pytest.raises(ValueError, match=r"^max_len: the small GPT holds 96 positions, but a prompt of \d+ tokens .*"
                       r"too long: 1 of \d+ prompts \(every training prompt"):
        check_run(_config(tmp_path, "gpt", data, warm_start_steps=0))
    with pytest.raises(ValueError, match=r"^dataset: the model in .* holds 128 positions.* too long: 1 of"):
        check_run(_config(tmp_path, _llama(tmp_path / "llama"), data))


def test_a_tokenizer_larger_than_the_models_vocabulary_is_refused_at_load_and_before_work(tmp_path):
    """Before: ids past the embedding crashed the first forward with a raw IndexError."""
    tok = local_tokenizer()
    model = _gpt2(tmp_path / "small", vocab=20)
    message = rf"^model: the tokenizer of '.*small' has {len(tok)} tokens, but the model's embedding holds 20"
    with pytest.raises(ValueError, match=message):
        check_run(_config(tmp_path, model, _dataset(tmp_path / "d.jsonl", SHORT)))
    with pytest.raises(ValueError, match=message):
        HFPolicy.from_pretrained(model)


def test_a_tokenizer_covering_under_half_the_vocabulary_is_warned_about_a_padded_one_is_not(tmp_path):
    tok = local_tokenizer()
    with pytest.warns(UserWarning, match=rf"tokenizer has {len(tok)} tokens, the model's vocabulary "
                      rf"{2 * len(tok) + 1}: it covers under 50%"):
        HFPolicy.from_pretrained(_gpt2(tmp_path / "big", vocab=2 * len(tok) + 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        HFPolicy.from_pretrained(_gpt2(tmp_path / "padded", vocab=64 * (len(tok) // 64 + 1)))  # padded up: silent


def _no_eos_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    vocab = {"<s>": 0, "<unk>": 1, **{ch: i + 2 for i, ch in enumerate("0123456789+=?whatis ")}}
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    tok.decoder = decoders.Fuse()
    return transformers.PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>")  # no eos, no pad


def test_a_model_without_an_end_of_sequence_token_is_refused_naming_the_folder(tmp_path):
    """Before: id 0 was used as the end of sequence, silently."""
    tok = _no_eos_tokenizer()
    config = tiny_llama_config(len(tok))
    config.eos_token_id = config.pad_token_id = None
    model = _save(tmp_path / "noeos", tok, config)
    message = r"^model: '.*noeos' names no end-of-sequence token .* Fix: set the tokenizer's eos_token"
    with pytest.raises(ValueError, match=message):
        check_run(_config(tmp_path, model, _dataset(tmp_path / "d.jsonl", SHORT), chat_template="off"))
    with pytest.raises(ValueError, match=message):
        HFPolicy.from_pretrained(model, use_chat_template="off")
    with pytest.raises(ValueError, match="^model: the tokenizer and the model's generation config name no "):
        HFPolicy(transformers.AutoModelForCausalLM.from_config(config), tok)


def test_an_eos_of_the_generation_config_alone_is_used_and_pads_where_the_tokenizer_has_no_pad(tmp_path):
    tok = _no_eos_tokenizer()
    end = tok.convert_tokens_to_ids("?")
    config = tiny_llama_config(len(tok))
    config.eos_token_id, config.pad_token_id = end, None
    model = _save(tmp_path / "geneos", tok, config)
    check_run(_config(tmp_path, model, _dataset(tmp_path / "d.jsonl", SHORT), chat_template="off"))
    policy = HFPolicy.from_pretrained(model, use_chat_template="off")
    assert policy.eos_ids == [end] and policy.pad_id == end


def test_prompt_lengths_are_those_of_encode_prompt():
    from treecredit.models.hf_policy import prompt_lengths
    from treecredit.tasks import ChatPrompt

    tok = local_tokenizer()
    texts = ["1+2=", ChatPrompt("1+2=", "be brief"), ChatPrompt("1+2=", "be very brief"), "1+2=",
             ChatPrompt.from_messages([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "1"},
                                       {"role": "user", "content": "1+2="}])]
    model = transformers.AutoModelForCausalLM.from_config(tiny_llama_config(len(tok)))
    for chat in ("on", "off"):
        policy = HFPolicy(model, tok, use_chat_template=chat)
        assert prompt_lengths(tok, texts, chat == "on") == [len(policy.encode_prompt(t)) for t in texts]


def test_model_positions_reads_either_field_and_none_when_absent():
    from treecredit.models.hf_load import model_positions

    assert model_positions(transformers.GPT2Config(n_positions=77)) == 77
    assert model_positions(tiny_llama_config(10)) == 128
    assert model_positions(transformers.PretrainedConfig()) is None


def test_a_warm_start_whose_prompt_and_solution_pass_the_positions_is_refused(tmp_path):
    """--hf-warm-start-steps trains on prompt + worked solution + eos: past a GPT-2's positions, an IndexError."""
    model = _gpt2(tmp_path / "gpt2")
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"prompt": p, "answer": "3", "solution": "1+2=3\n" * (8 if i == 5 else 1)})
                            + "\n" for i, p in enumerate(SHORT)))
    options = {"solution_column": "solution", "held_out": 5}
    check_run(_config(tmp_path, model, str(data), task_options=options))  # no warm start: the prompts fit
    with pytest.raises(ValueError, match=r"^hf_warm_start_steps: the model in .* holds 64 positions \(n_positions\), "
                       r"but the warm start trains on a prompt and its worked solution and the end of sequence of "
                       r"(\d+) tokens .* too long: 1 of 35 training prompts"):
        check_run(_config(tmp_path, model, str(data), task_options=options, hf_warm_start_steps=1))


def test_counts_ignore_truncation_or_padding_saved_in_the_tokenizer_file(tmp_path):
    """A tokenizer.json saved with truncation or padding on: calling the tokenizer resets both, its backend
    keeps them, so the fast count would cut long prompts (a too-long prompt passing) or pad short ones."""
    from treecredit.models.hf_policy import encode_prompts, prompt_lengths, token_counts

    texts = ["x" * 50, "1+2="]
    for turn_on in (lambda b: b.enable_truncation(8), lambda b: b.enable_padding(length=64)):
        tok = local_tokenizer()
        turn_on(tok.backend_tokenizer)
        tok.save_pretrained(tmp_path / "tok")
        saved = transformers.AutoTokenizer.from_pretrained(tmp_path / "tok")
        exact = [len(ids) for ids in encode_prompts(saved, texts, False)]
        assert exact[0] > 8 and exact[1] < 64
        assert prompt_lengths(saved, texts, False) == exact
        assert token_counts(saved, texts, False) == [len(saved(t, add_special_tokens=False)["input_ids"])
                                                     for t in texts]


def test_a_multimodal_config_keeps_its_vocabulary_in_its_text_config(tmp_path):
    """Gemma 3 (4B and up) loads as a causal LM with vocab_size on get_text_config(), not on the config."""
    if not hasattr(transformers, "Gemma3Config"):
        pytest.skip("this transformers has no Gemma 3")
    tok = local_tokenizer()
    text = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=128)
    config = transformers.Gemma3Config(text_config=text)
    config.save_pretrained(tmp_path / "gemma3")
    tok.save_pretrained(tmp_path / "gemma3")
    (tmp_path / "gemma3" / "model.safetensors").touch()  # the folder check wants weights; none are read here
    from treecredit.training.context import check_context

    run = TrainConfig(task="arithmetic", model=str(tmp_path / "gemma3"))
    check_context(run, task_from_config(run))  # passes: before, AttributeError 'vocab_size'
    with pytest.raises(ValueError, match=r"^max_new_tokens: the model in .* holds 128 positions"):
        big = TrainConfig(task="arithmetic", model=str(tmp_path / "gemma3"), max_new_tokens=200)
        check_context(big, task_from_config(big))
