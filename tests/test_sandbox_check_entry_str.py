"""run_check with an entry point that is a str subclass (numpy's ``np.str_``, as a dataset column gives it):
its repr (``np.str_('sq')``) was pasted into the boot code and every program failed with NameError 'np'
(trial 35 f5, the direct path; the reward's own path converts in code_args)."""
from __future__ import annotations

import numpy as np

from treecredit.sandbox_check import run_check

TEST = "def check(candidate):\n    assert candidate(3) == 9\n"


def test_a_numpy_string_entry_point_runs_as_its_text():
    assert run_check("def sq(x):\n    return x * x\n", TEST, np.str_("sq"), timeout=20).passed
    assert not run_check("def sq(x):\n    return x + x\n", TEST, np.str_("sq"), timeout=20).passed
