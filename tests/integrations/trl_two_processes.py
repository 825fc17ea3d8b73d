"""Run by test_trl.py under torchrun with two CPU processes: one TRL step where groups straddle processes.

Each process saves what it generated (its own rows) to ``<out>/rank<r>.pt``; the test compares them
with ``compute_advantages`` on all rows together. A third argument ``tree`` runs tree rollouts
(``sampler="tree"``, test_trl_tree.py).
"""

import sys

import torch

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from test_trl import RecordingTrainer, _tiny_model, _tokenizer, count_letters  # noqa: E402


def main(out_dir: str, estimator: str, mode: str = "iid") -> None:
    import datasets
    from trl import GRPOConfig

    torch.set_num_threads(1)
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


if __name__ == "__main__":
    main(*sys.argv[1:])
