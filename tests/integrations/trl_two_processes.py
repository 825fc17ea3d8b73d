"""Run by test_trl.py under torchrun with two CPU processes: one TRL step where groups straddle processes.

Each process saves what it generated (its own rows) to ``<out>/rank<r>.pt``; the test compares them
with ``compute_advantages`` on all rows together. A third argument ``tree`` runs tree rollouts
(``sampler="tree"``, test_trl_tree.py); ``server <url> <model dir>`` runs them on TRL's vLLM server at
``url`` serving the model saved in ``model dir`` (test_trl_vllm_server.py, see ``_server_run``).
"""

import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from test_trl import RecordingTrainer, _tiny_model, _tokenizer, count_letters  # noqa: E402


def main(out_dir: str, estimator: str, mode: str = "iid", *server) -> None:
    import datasets
    from trl import GRPOConfig

    torch.set_num_threads(1)
    if mode == "server":
        return _server_run(out_dir, estimator, *server)
    tokenizer = _tokenizer()
    dataset = datasets.Dataset.from_dict({"prompt": ["1+2=", "ab", "3+4=", "ba", "5+6=", "cd", "7+8=", "dc"]})
    # 2 processes x 2 rows = 4 completions per step = one group of 4, split over the two processes
    args = GRPOConfig(output_dir=out_dir, use_cpu=True, bf16=False, per_device_train_batch_size=2,
                      num_generations=4, max_completion_length=6, max_steps=1, learning_rate=1e-3, beta=0.0,
                      report_to="none", save_strategy="no", seed=0, temperature=1.5, dataloader_num_workers=0)
    trainer_class, extra = RecordingTrainer, {}
    if mode == "tree":
        from test_trl_tree import TREE, TreeRecordingTrainer

        trainer_class, extra = TreeRecordingTrainer, {"sampler": "tree", "branching": "fixed",
                                                      "branching_options": TREE}
    trainer = trainer_class(model=_tiny_model(tokenizer), reward_funcs=count_letters, args=args,
                            train_dataset=dataset, processing_class=tokenizer, estimator=estimator, **extra)
    trainer.train()
    rank = trainer.accelerator.process_index
    torch.save({"generated": trainer.generated, "loss_inputs": trainer.loss_inputs}, f"{out_dir}/rank{rank}.pt")


def _server_run(out_dir: str, estimator: str, url: str, model_dir: str) -> None:
    """6 rows per process, num_generations=4: 3 groups (trees) per step, the middle one split over the
    processes; groups are dealt round-robin, so each process grows a tree on the server through its own
    client. TRL's weight sync is patched out (NCCL: GPU only)."""
    import datasets
    import transformers
    from test_trl_tree import TREE, TreeRecordingTrainer
    from test_trl_vllm import high_tokens
    from trl import GRPOConfig
    from trl.generation.vllm_client import VLLMClient
    from trl.generation.vllm_generation import VLLMGeneration

    VLLMClient.init_communicator = lambda self, device=0: None  # type: ignore[method-assign]
    VLLMGeneration.sync_weights = lambda self: None  # type: ignore[method-assign]
    dataset = datasets.Dataset.from_dict({"prompt": ["1+2=", "ab", "3+4=", "ba", "5+6=", "cd"]})
    args = GRPOConfig(output_dir=out_dir, use_cpu=True, bf16=False, per_device_train_batch_size=6,
                      num_generations=4, max_completion_length=8, max_steps=1, learning_rate=1e-3, beta=0.0,
                      report_to="none", save_strategy="no", seed=0, temperature=1.0, dataloader_num_workers=0,
                      use_vllm=True, vllm_mode="server", vllm_server_base_url=url)
    model = transformers.AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    trainer = TreeRecordingTrainer(model=model, reward_funcs=high_tokens, args=args, train_dataset=dataset,
                                   processing_class=transformers.AutoTokenizer.from_pretrained(model_dir),
                                   estimator=estimator, sampler="tree", branching="fixed", branching_options=TREE)
    trainer.train()
    rank = trainer.accelerator.process_index
    torch.save({"generated": trainer.generated, "http_calls": trainer._vllm_tree_backend.http_calls},
               f"{out_dir}/rank{rank}.pt")


if __name__ == "__main__":
    main(*sys.argv[1:])
