"""Start-up: the determinism switch without the compiler import; fused AdamW gives AdamW's update."""

import os
import subprocess
import sys
from pathlib import Path

import torch

from treecredit.training.startup import adamw

SCRIPT = """
import sys, torch
from treecredit.training.startup import deterministic_algorithms
deterministic_algorithms(True, warn_only=True)
assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()
assert "torch._dynamo" not in sys.modules and "torch._inductor.config" not in sys.modules
import torch._inductor.config as inductor_config
assert inductor_config.deterministic  # a compiler imported later sees the same setting
deterministic_algorithms(False)
assert not torch.are_deterministic_algorithms_enabled() and not inductor_config.deterministic
print("ok")
"""


def test_deterministic_switch_skips_the_compiler_import():
    src = str(Path(__file__).resolve().parents[2] / "src")
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": src})
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_fused_adamw_matches_adamw():
    torch.manual_seed(0)
    a = [torch.nn.Parameter(torch.randn(5, 3)), torch.nn.Parameter(torch.randn(4))]
    b = [torch.nn.Parameter(p.detach().clone()) for p in a]
    fused, plain = adamw(a, lr=1e-2, weight_decay=0.1), torch.optim.AdamW(b, lr=1e-2, weight_decay=0.1)
    assert fused.param_groups[0]["fused"] in (True, None)
    for step in range(3):
        for p, q in zip(a, b):
            g = torch.randn(p.shape, generator=torch.Generator().manual_seed(step))
            p.grad, q.grad = g.clone(), g.clone()
        fused.step()
        plain.step()
    for p, q in zip(a, b):
        torch.testing.assert_close(p, q, atol=1e-6, rtol=1e-5)
