"""bench_step.training_step splits the sampling time into the policy's decoding steps and the rest of the call, and
leaves the policy as it was (its ``step`` timed through an instance attribute for the call only)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def bench_step(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import bench_step

    return bench_step


@pytest.mark.parametrize("sampler_name", ["iid", "tree"])
def test_sampling_split_into_model_steps_and_the_rest(bench_step, sampler_name):
    from treecredit.models import GPTPolicy
    from treecredit.sampling import make_sampler
    from treecredit.tasks import ArithmeticTask
    from treecredit.training.warmstart import char_tokenizer_for

    task = ArithmeticTask()
    policy = GPTPolicy.build(tokenizer=char_tokenizer_for(task), n_layer=1, n_head=2, n_embd=16, seed=0)
    problems = task.generate(np.random.default_rng(0), 2)
    cfg = bench_step.config(sampler=sampler_name, max_new_tokens=6, prompts_per_step=2, group_size=4)
    sampler = make_sampler(sampler_name, temperature=1.0, max_new_tokens=6, **cfg.tree_sampler_options())
    calls = []
    step = GPTPolicy.step

    def counted(self, state, tokens):
        calls.append(1)
        return step(self, state, tokens)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(GPTPolicy, "step", counted)
        out = bench_step.training_step(policy, task, problems, cfg, sampler, seed=0)
    assert calls and out["decode steps"] > 0
    assert 0 < out["model steps"] <= out["sample"]
    assert out["sampling rest"] == pytest.approx(out["sample"] - out["model steps"])
    assert "step" not in vars(policy)  # the timer is gone: the class's step again
    assert torch.is_tensor(policy.prefill([[1, 2]])[0])
