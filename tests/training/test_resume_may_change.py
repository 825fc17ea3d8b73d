"""The settings --resume may change: one list in code (preflight.RESUME_MAY_CHANGE_FLAGS) that docs/runs.md and the
refusal's fix name, and a new --cache-dir (not part of a run's result) is accepted."""

import re
from pathlib import Path

import pytest

from treecredit.training.loop import train
from treecredit.training.preflight import RESUME_MAY_CHANGE_FLAGS

DOCS = Path(__file__).parents[2] / "docs" / "runs.md"


def test_the_docs_list_the_settings_resume_may_change_from_the_code():
    text = " ".join(DOCS.read_text().split())
    listed = re.search(r"the settings must be the same, only (.*?) may change", text).group(1)
    assert set(re.findall(r"`(\w+)`", listed)) == set(RESUME_MAY_CHANGE_FLAGS)


def test_resume_accepts_another_cache_dir_and_refuses_compile_decode(tiny_config, tmp_path):
    quiet = {"log": lambda *a: None}
    train(tiny_config(steps=1, eval_every=1, warm_start_steps=20), **quiet)
    records = train(tiny_config(steps=2, eval_every=1, warm_start_steps=20, cache_dir=str(tmp_path / "other"),
                                sample_every=1), resume=True, **quiet)
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2]
    with pytest.raises(ValueError, match=r"compile_decode.*only steps, token_budget, progress, tensorboard, "
                                         r"sample_every, cache_dir may change"):
        train(tiny_config(steps=3, eval_every=1, warm_start_steps=20, compile_decode="on"), resume=True, **quiet)
