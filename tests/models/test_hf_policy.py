"""The Hugging Face adapter on tiny random-initialised models with a local character tokenizer."""

import numpy as np
import pytest
import torch

torch.set_num_threads(1)
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from hf_tiny import tiny_hf_policy  # noqa: E402
from treecredit.sampling import IIDSampler  # noqa: E402
from treecredit.tasks import ArithmeticTask  # noqa: E402


def tiny_policy(kind="llama"):
    return tiny_hf_policy(kind)


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_hf_kv_cache_equals_teacher_forcing(kind):
    policy = tiny_policy(kind)
    prompts = [policy.encode_prompt("1+2="), policy.encode_prompt("12*3-4=")]  # different lengths
    assert policy.decode(policy.encode("3=5;")) == "3=5;"
    response = torch.tensor([policy.encode("3;x"), policy.encode("32=")])
    with torch.no_grad():
        logp, _ = policy.token_logprobs(prompts, response)
        logits, state = policy.prefill(prompts)
        state = policy.select(state, torch.tensor([0, 1]))
        for t in range(response.shape[1]):
            want = torch.log_softmax(logits, -1).gather(-1, response[:, t:t + 1]).squeeze(-1)
            torch.testing.assert_close(logp[:, t], want, atol=1e-4, rtol=1e-4)
            logits, state = policy.step(state, response[:, t])


def test_hf_chat_template_and_sampling():
    policy = tiny_policy()
    assert policy.tokenizer.decode(policy.encode_prompt("1+2=")) == "<user>1+2=<a>"
    task = ArithmeticTask(min_operators=1, max_operators=1)
    problems = task.generate(np.random.default_rng(0), 2)
    sampler = IIDSampler(max_new_tokens=6)
    a = sampler.sample(policy, task, problems, 3, torch.Generator().manual_seed(0))
    b = sampler.sample(policy, task, problems, 3, torch.Generator().manual_seed(0))
    assert torch.equal(a.response_ids, b.response_ids)
    assert a.shape[0] == 6 and a.rewards.shape == (6,)


def test_train_loop_with_a_local_hf_model(tmp_path):
    from treecredit.training.config import TrainConfig
    from treecredit.training.loop import train

    policy = tiny_policy()
    policy.model.save_pretrained(tmp_path / "m")
    policy.tokenizer.save_pretrained(tmp_path / "m")
    cfg = TrainConfig(model=str(tmp_path / "m"), steps=2, prompts_per_step=2, group_size=2, max_new_tokens=4,
                      eval_problems=2, out=str(tmp_path / "run"), progress=False, tensorboard=False,
                      task_options={"min_operators": 1, "max_operators": 1})
    records = train(cfg, log=lambda *a: None)
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2]
    with pytest.raises(ValueError, match="^model: .*Fix"):
        TrainConfig(model=str(tmp_path / "missing"))


def test_the_kv_cache_is_passed_under_the_name_the_forward_takes(monkeypatch):
    """transformers 5.x renamed forward's ``past_key_values`` to ``cache`` (the old name warns, and goes in
    5.40), and reading the output's ``past_key_values`` logs a deprecation once per process: prefill, a step
    and an agent's chunked extension pass and read the cache without either."""
    import inspect
    import warnings

    import transformers.utils.generic as generic

    logged = []  # the output's deprecation goes through transformers' warning_once, not Python's warnings
    monkeypatch.setattr(generic.logger, "warning_once", lambda message, *a, **k: logged.append(message))

    from treecredit.agents.decode import extend_state

    policy = tiny_policy()
    takes_cache = "cache" in inspect.signature(policy.model.forward).parameters
    assert list(policy.cache_kwargs(None)) == ["cache" if takes_cache else "past_key_values"]
    prompts = [policy.encode_prompt("1+2="), policy.encode_prompt("12*3-4=")]
    with warnings.catch_warnings(record=True) as caught, torch.no_grad():
        warnings.simplefilter("always")
        logits, state = policy.prefill(prompts)
        logits, state = policy.step(state, logits.argmax(-1))
        extend_state(policy, state, [policy.encode("3;"), policy.encode("1")])
    renamed = [str(w.message) for w in caught if "past_key_values" in str(w.message)]
    assert not renamed and not [m for m in logged if "past_key_values" in m], (renamed, logged)
