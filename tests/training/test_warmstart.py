from types import SimpleNamespace

import torch

from treecredit.sampling import IIDSampler, make_sampler, samplers
from treecredit.tasks import CountdownTask
from treecredit.training.loop import train
from treecredit.training.warmstart import warm_started_policy

torch.set_num_threads(1)
MODEL = {"n_layer": 1, "n_head": 2, "n_embd": 16}


def test_warm_start_is_reproducible_and_cached(tmp_path):
    task = CountdownTask()
    messages = []
    a = warm_started_policy(task, model_config=MODEL, steps=5, batch_size=8, lr=1e-3, seed=3,
                            cache_dir=tmp_path / "a", log=messages.append)
    b = warm_started_policy(task, model_config=MODEL, steps=5, batch_size=8, lr=1e-3, seed=3,
                            cache_dir=tmp_path / "b", log=messages.append)
    for (name, x), (_, y) in zip(a.module.state_dict().items(), b.module.state_dict().items()):
        assert torch.equal(x, y), name
    ends = [m for m in messages if m.startswith("warm start: 5 steps done, final loss ")]
    assert len(ends) == 2 and "(first " in ends[0]  # the last step's loss is said once (no progress line gives it)
    c = warm_started_policy(task, model_config=MODEL, steps=5, batch_size=8, lr=1e-3, seed=3,
                            cache_dir=tmp_path / "a", log=messages.append)
    assert "loaded" in messages[-1]
    assert all(torch.equal(x, y) for x, y in zip(a.module.parameters(), c.module.parameters()))
    assert len(list((tmp_path / "a").glob("warmstart-*.pt"))) == 1


def test_countdown_trains_end_to_end(tiny_config):
    records = train(tiny_config(task="countdown", task_options={"n_numbers": 2}, steps=2, warm_start_steps=5,
                                max_new_tokens=10), log=lambda *a: None)
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2]


def test_sampler_registry():
    assert "iid" in samplers()
    assert isinstance(make_sampler("iid", temperature=0.5, top_p=1.0, max_new_tokens=4), IIDSampler)


def test_a_warm_start_shows_its_progress(tmp_path, capsys):
    from treecredit.training import progress

    task = CountdownTask()
    warm_started_policy(task, model_config=MODEL, steps=3, batch_size=4, lr=1e-3, seed=3, cache_dir=tmp_path / "a",
                        log=lambda *a: None, progress=True)
    err = capsys.readouterr().err
    assert "warm start" in err and "3/3" in err and "loss=" in err  # the bar, closed at its last step
    # no bar (compare, --no-progress): a line every 30 s (here every step), none after the last
    lines: list[str] = []
    with progress.StepProgress(3, "warm start", bar=False, log=lines.append, every_s=0.0) as tick:
        for loss in (2.0, 1.5, 1.0):
            tick(loss)
    assert lines == ["warm start: step 1/3, loss 2.000", "warm start: step 2/3, loss 1.500"]
    lines.clear()
    warm_started_policy(task, model_config=MODEL, steps=2, batch_size=4, lr=1e-3, seed=3, cache_dir=tmp_path / "b",
                        log=lines.append)
    assert "supervised steps" in lines[0] and "warm start" not in capsys.readouterr().err  # no bar when off


def test_lines_printed_during_a_bar_go_above_it(monkeypatch):
    from tqdm.auto import tqdm

    from treecredit.training.progress import above_bar

    written: list[str] = []
    monkeypatch.setattr(tqdm, "write", staticmethod(lambda text, **kw: written.append(text)))
    bar = SimpleNamespace(fp=SimpleNamespace(isatty=lambda: True))  # on a terminal (a file: test_progress_to_a_file)
    above_bar(print, bar)("step 25:", "held-out success 0.5")
    assert written == ["step 25: held-out success 0.5"]
    mine = [].append
    assert above_bar(mine, bar) is mine and above_bar(print, None) is print  # a caller's own log, or no bar


def test_the_warm_start_cache_is_keyed_by_torch_threads_and_compare_builds_it_under_the_runs_threads(
        tmp_path, monkeypatch):
    """More threads sum floats in another order, so a warm start trained under 2 threads differs from one
    trained under 1: the cache key holds the count (when not 1), and compare's own process builds the runs'
    warm starts under the runs' --threads (it used torch's default, so its cached weights were not those a
    run trains itself)."""
    from types import SimpleNamespace

    from treecredit.training.compare import run_comparison
    from treecredit.training.config import TrainConfig
    from treecredit.training.warmstart import cached_policy

    def build():
        return SimpleNamespace(module=torch.nn.Linear(2, 2))

    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            cached_policy({"what": "x"}, build, lambda policy, on_step: [], tmp_path, log=lambda *a: None)
        assert len(list(tmp_path.glob("warmstart-*.pt"))) == 2  # one file per thread count
        seen = []
        monkeypatch.setattr("treecredit.training.loop.build_policy",
                            lambda config, task, log: seen.append(torch.get_num_threads()))
        monkeypatch.setattr("treecredit.training.loop.train", lambda config, log=None, **kw: [
            {"kind": "eval", "step": 0, "generated_tokens": 0, "eval_sampled_pass1": 0.1, "eval_greedy_pass1": 0.1,
             "eval_step_accuracy": 0.1},
            {"kind": "train", "step": 1, "generated_tokens": 10, "elapsed_s": 1.0, "adv_step_credit_share": 0.0},
            {"kind": "eval", "step": 1, "generated_tokens": 10, "eval_sampled_pass1": 0.2, "eval_greedy_pass1": 0.2,
             "eval_step_accuracy": 0.2}])
        torch.set_num_threads(2)
        run_comparison(TrainConfig(out=str(tmp_path / "cmp"), threads=1), ["grpo"], [0], 5000, tmp_path / "cmp",
                       jobs=1, log=lambda *a: None)
        assert seen == [1] and torch.get_num_threads() == 2  # built under the run's threads, put back after
    finally:
        torch.set_num_threads(before)


def test_the_warm_start_never_trains_on_a_held_out_problem(tiny_config, monkeypatch):
    """The run's held-out prompts are skipped by the warm start, as by the RL draws (they were not: 213 of the
    arithmetic task's 254 held-out prompts had their worked solutions in the default warm start)."""
    import numpy as np

    from treecredit.tasks import task_from_config
    from treecredit.training import warmstart
    from treecredit.training.loop import build_policy, held_out_prompts

    seen: list[str] = []
    batch = warmstart.supervised_batch
    monkeypatch.setattr(warmstart, "supervised_batch",
                        lambda policy, task, problems: (seen.extend(p.prompt for p in problems),
                                                        batch(policy, task, problems))[1])
    one = {"min_operators": 1, "max_operators": 1}  # a few hundred problems: the draws meet held-out ones
    config = tiny_config(task_options=one, warm_start_steps=2, warm_start_batch=64, eval_problems=32)
    task = task_from_config(config)
    held = held_out_prompts(task, config.eval_problems)
    assert len(held) > 20
    rng = np.random.default_rng([config.warm_start_seed, 1])  # the same draws, unfiltered, hit held-out prompts
    assert held & {p.prompt for p in task.generate(rng, 2 * 64)}, "the test's draws would not show a leak"
    messages: list[str] = []
    build_policy(config, task, messages.append)
    assert len(seen) == 2 * 64 and not held & set(seen)
    # a second build loads the cache; another held-out set is another key
    build_policy(config, task, messages.append)
    assert "loaded" in messages[-1] and len(seen) == 2 * 64
    build_policy(tiny_config(task_options=one, warm_start_steps=2, warm_start_batch=64, eval_problems=16), task,
                 messages.append)
    assert "supervised steps" in messages[-2] and len(seen) == 4 * 64
