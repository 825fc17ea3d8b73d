"""Resumable checkpoints: model, optimizer, every RNG stream and the counters, written atomically."""

from __future__ import annotations

import os
import random
from pathlib import Path


def save_checkpoint(path: Path, *, model, optimizer, generator, problem_rng, counters: dict) -> None:
    """Write everything a killed run needs to continue exactly where it stopped."""
    import numpy as np
    import torch

    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "generator": generator.get_state(), "problem_rng": problem_rng.bit_generator.state,
             "python_rng": random.getstate(), "numpy_rng": np.random.get_state(),
             "torch_rng": torch.get_rng_state(), "counters": dict(counters)}
    tmp = Path(str(path) + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def load_checkpoint(path: Path, *, model, optimizer, generator, problem_rng) -> dict:
    """Restore the states saved by :func:`save_checkpoint` in place; return the counters."""
    import numpy as np
    import torch

    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["generator"])
    problem_rng.bit_generator.state = state["problem_rng"]
    random.setstate(state["python_rng"])
    np.random.set_state(state["numpy_rng"])
    torch.set_rng_state(state["torch_rng"])
    return state["counters"]
