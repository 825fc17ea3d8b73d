import json

import pytest
import torch

torch.set_num_threads(1)


@pytest.fixture
def tiny_config(tmp_path):
    """The smallest settings that still learn: one-operator +/- sums, a 2-layer 32-wide GPT."""
    from treecredit.training.config import TrainConfig

    def make(**overrides):
        values = dict(out=str(tmp_path / "run"), steps=60, lr=1e-3, warm_start_steps=150, warm_start_batch=32,
                      warm_start_lr=3e-3, task_options={"min_operators": 1, "max_operators": 1, "max_operand": 5,
                                                        "operators": "+-"},
                      n_layer=2, n_head=2, n_embd=32, prompts_per_step=8, group_size=8, max_new_tokens=8,
                      eval_every=10, eval_problems=16, checkpoint_every=10, progress=False, tensorboard=False,
                      cache_dir=str(tmp_path / "cache"))
        values.update(overrides)
        return TrainConfig(**values)

    return make


@pytest.fixture(scope="session")
def warm_start_cache(tmp_path_factory):
    """One warm-start cache folder for the test session (each pytest-xdist worker has its own), for tests that need a
    warm-started model but do not check how it was trained or cached: their runs load it instead of training it
    again (~4 s each for ``tiny_config``'s). A cached file is keyed by every warm-start setting and torch's
    thread count, so a test loads only the weights it would have trained itself."""
    return str(tmp_path_factory.mktemp("warm-starts"))


@pytest.fixture
def data(tmp_path):
    """An 8-row JSONL dataset of "i+1=" prompts with their answers."""
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"{i}+1=", "answer": str(i + 1)}) + "\n" for i in range(8)))
    return str(path)


@pytest.fixture
def cached_config(tiny_config, warm_start_cache):
    """``tiny_config`` with the session's warm-start cache: for tests that check run folders, checkpoints and
    resumes, not the warm start (a run that trains it equals one that loads it: test_loop checks that)."""
    return lambda **overrides: tiny_config(**{"cache_dir": warm_start_cache, **overrides})
