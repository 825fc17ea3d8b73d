"""metrics.jsonl and samples.jsonl as a reader sees them: means without float32 noise (a reward of 0.7 averages
0.7, not 0.699999988079071), shares in float64 (8/15, not float32's 0.5333333611), and non-ASCII text as written
(UTF-8, not \\u escapes)."""

import torch

from treecredit.training.metrics import advantage_metrics, as_written, keep_records_until, read_metrics, reward_sum
from treecredit.training.samples import write_samples


def test_reward_sums_and_shares_are_float64_of_the_rewards_as_written():
    rewards = torch.full((15,), 0.7, dtype=torch.float32)
    assert float(rewards.mean()) != 0.7  # float32: 0.699999988079071
    assert reward_sum(rewards) / 15 == 0.7
    assert reward_sum(torch.tensor([0.1, float("nan"), 0.2])) == 0.1 + 0.2  # a failed (NaN) reward counts 0
    assert as_written(torch.tensor(0.7375)) == 0.7375 and as_written(0.1 + 0.2) == 0.1 + 0.2  # float64 as it is
    mask = torch.tensor([[True] * 8, [True] * 7 + [False]])  # 15 trained tokens
    advantages = torch.tensor([[1.0, 0.0] * 4, [0.5] * 8])  # row 0: 8 tokens differ from its mean; row 1: none
    shares = advantage_metrics(advantages, mask)
    assert shares["adv_step_credit_share"] == 8 / 15 and shares["adv_nonzero_share"] == 11 / 15
    assert shares["adv_abs_mean"] == (4 * 1.0 + 7 * 0.5) / 15


def test_a_run_writes_clean_means(tiny_config, tmp_path):
    from treecredit.rewards import register_reward
    from treecredit.training.loop import train

    register_reward("seven_tenths", lambda prompts, completions, **_: [0.7] * len(completions))
    config = tiny_config(reward=["seven_tenths"], steps=1, warm_start_steps=0, prompts_per_step=3, group_size=5,
                         eval_every=1, eval_problems=15, checkpoint_every=0)
    train(config, log=lambda *a: None)
    text = (tmp_path / "run" / "metrics.jsonl").read_text()
    records = read_metrics(tmp_path / "run" / "metrics.jsonl")
    (step,) = [r for r in records if r["kind"] == "train"]
    final = [r for r in records if r["kind"] == "eval"][-1]
    assert step["reward"] == 0.7 and final["eval_greedy_reward"] == 0.7 and final["eval_sampled_reward"] == 0.7
    assert "0.69999998" not in text and "0.7000000" not in text, text


def test_samples_keep_non_ascii_text_as_written_also_after_a_resume_cut(tmp_path):
    record = {"step": 1, "prompt": "Größe von 3 × 4 =", "completion": "12 — fertig", "reward": 1.0,
              "reward_failed": False}
    write_samples(tmp_path, [record, {**record, "step": 2}])
    path = tmp_path / "samples.jsonl"
    raw = path.read_bytes().decode("utf-8")
    assert '"prompt": "Größe von 3 × 4 ="' in raw and "\\u" not in raw
    assert read_metrics(path)[0] == record
    keep_records_until(path, 1)  # a resume drops the records past its checkpoint, keeping the others as written
    assert path.read_bytes().decode("utf-8") == raw.splitlines(keepends=True)[0]
