import numpy as np
import pytest
import torch

# One torch thread per test process, in every selection of tests: `make test` runs two pytest-xdist workers on the
# 2-core machines, and the runs' results are deterministic for a given thread count (the training tests set it too).
torch.set_num_threads(1)


@pytest.fixture
def rng():
    return np.random.default_rng(0)
