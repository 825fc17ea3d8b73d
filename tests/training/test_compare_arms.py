"""``treecredit compare``: an arm's bad sampler, branching, field or estimator option is refused naming the arm
as written, with the fix in the arm's own syntax."""

from dataclasses import replace

import pytest

from treecredit.cli import main
from treecredit.training.arms import arm_config, arm_with_option, check_arm_names
from treecredit.training.compare import run_comparison
from treecredit.training.config import TrainConfig


@pytest.mark.parametrize("label,message,fix", [
    ("treerl@tre", "sampler: 'tre' in arm 'treerl@tre' is not one of", "write treerl@tree."),
    ("treerl@tree:fixd", "branching: 'fixd' in arm 'treerl@tree:fixd' is not one of", "write treerl@tree:fixed."),
    ("treerl@tree:fixd[scale_values=false]", "in arm 'treerl@tree:fixd[scale_values=false]'",
     "write treerl@tree:fixed[scale_values=false]."),
    ("treerl@tree[lr=-1]", "lr (arm 'treerl@tree[lr=-1]'): is -1", "write treerl@tree[lr=VALUE]"),
    ("treerpo@tree[scale=bogus]", "arm 'treerpo@tree[scale=bogus]': option scale=bogus: estimator 'treerpo' "
     "refuses it", "(in the arm: treerpo@tree[scale=VALUE])"),
    ("treerpo@tree[estimator.scale=bogus,lr=0.1]", "option scale=bogus",
     "(in the arm: treerpo@tree[estimator.scale=VALUE,lr=0.1])"),
    # a sampler:branching with no estimator: the arm meant, not only the list of estimators
    ("tree:fixd", "estimators: arm 'tree:fixd' has a sampler and branching but no estimator",
     "e.g. treerl@tree:fixed"),
    ("grpx@tree", "arm 'grpx@tree': 'grpx' is no registered token-level estimator", "write grpo@tree."),
    # an option's type refused by the estimator's declared options: named in the arm
    ("grpo[estimator.norm_by_std=maybe]", "norm_by_std (arm 'grpo[estimator.norm_by_std=maybe]'): is str 'maybe'",
     "write grpo[estimator.norm_by_std=VALUE]"),
    ("grpo[norm_by_std=maybe]", "(arm 'grpo[norm_by_std=maybe]')", "write grpo[norm_by_std=VALUE]"),
    # a branching option: the arm's key, not --branching-option
    ("treerl@tree:fixed[branching.children=-2]", "(arm 'treerl@tree:fixed[branching.children=-2]'): "
     "branching.children=-2 (branching 'fixed'): children: is -2", "write treerl@tree:fixed[branching.children=VALUE]"),
    # a branching means nothing to i.i.d. groups (train refuses --sampler iid --branching too)
    ("grpo@iid:fixed", "branching: arm 'grpo@iid:fixed' gives the i.i.d. sampler a branching",
     "write grpo@tree:fixed for a tree arm, or grpo@iid for an i.i.d. one."),
])
def test_an_arms_error_names_the_arm_and_the_fix_in_its_syntax(tmp_path, label, message, fix):
    with pytest.raises(ValueError) as error:
        arm_config(TrainConfig(warm_start_steps=0, out=str(tmp_path)), label)
    text = str(error.value)
    assert message in text and fix in text, text
    assert "--estimator-option" not in text and "-option " not in text, text  # the arm's option, not a flag's


@pytest.mark.parametrize("label,message", [
    ("tree:fixd", "estimators: arm 'tree:fixd' has a sampler and branching but no estimator"),
    ("grpo,grpo@iid:fixed", "branching: arm 'grpo@iid:fixed' gives the i.i.d. sampler a branching"),
])
def test_the_command_names_the_arm_before_any_work(tmp_path, capsys, label, message):
    # the shared config was built from the first arm's estimator first: 'unknown estimator', no arm named
    assert main(["compare", "--estimators", label, "--out", str(tmp_path / "c")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "c").exists()


def test_a_global_option_of_the_wrong_type_names_the_arm_and_the_flag(tmp_path):
    base = TrainConfig(warm_start_steps=0, out=str(tmp_path), estimator_options={"norm_by_std": "maybe"})
    with pytest.raises(ValueError, match=r"norm_by_std \(arm 'grpo'\): is str 'maybe'.*Fix: pass norm_by_std=True"):
        arm_config(base, "grpo")


def test_a_global_option_an_arm_refuses_names_both_fixes(tmp_path, capsys):
    assert main(["compare", "--estimators", "grpo,treerpo@tree", "--estimator-option", "scale=bogus",
                 "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "arm 'treerpo@tree': --estimator-option scale=bogus: estimator 'treerpo' refuses it" in err, err
    assert "(as --estimator-option scale=VALUE, or for this arm alone treerpo@tree[scale=VALUE])" in err, err
    assert not (tmp_path / "c").exists()


def test_arm_with_option():
    assert arm_with_option("grpo", "lr") == "grpo[lr=VALUE]"
    assert arm_with_option("treerpo[scale=none]@tree", "scale", "std") == "treerpo[scale=std]@tree"
    assert arm_with_option("treerpo@tree[lr=1]", "scale") == "treerpo@tree[lr=1,scale=VALUE]"


@pytest.mark.parametrize("sampler_options", [{}, {"max_len": 1024}])
def test_compare_env_finds_the_gpt_positions_once_and_passes_them_on(tmp_path, monkeypatch, sampler_options):
    from treecredit.training import agent_checks, agent_loop
    from treecredit.training.compare import run_comparison

    calls, built = [], []
    real = agent_checks.gpt_positions
    for module in (agent_checks, agent_loop):  # compare's own call, and a warm start's (which must not call it)
        monkeypatch.setattr(module, "gpt_positions", lambda *a, **k: calls.append(1) or real(*a, **k))
    monkeypatch.setattr(agent_loop, "build_agent_policy",
                        lambda config, env_fn, settings, agent, log, max_len=None, eval_split=None:
                        built.append(max_len))
    monkeypatch.setattr(agent_loop, "train_agent", lambda config, **k: [])
    base = TrainConfig(env="gridworld", warm_start_steps=1, out=str(tmp_path / "cmp"), prompts_per_step=1,
                       group_size=2, max_new_tokens=8, eval_problems=4, sampler_options=sampler_options,
                       progress=False, tensorboard=False)
    run_comparison(base, ["grpo", "rtmc"], [0, 1], 500, tmp_path / "cmp", jobs=1, log=lambda *a: None)
    # once for both arms (same env settings), not once per run and again in every arm's warm start; the arms
    # share one warm start, built (or loaded) once
    assert len(calls) == 1 and len(built) == 1 and None not in built
    assert built[0] == (1024 if sampler_options else agent_loop.DEFAULT_MAX_LEN)


def test_compare_env_draws_the_held_out_instances_once_and_builds_no_env_per_run_to_check_it(tmp_path, monkeypatch):
    from treecredit import envs
    from treecredit.training import agent_checks, agent_loop
    from treecredit.training.compare import run_comparison

    drawn, made = [], []
    real_draw, real_make = agent_checks.eval_instances, envs.make_env
    for module in (agent_checks, agent_loop):  # compare's own draw, and a warm start's
        monkeypatch.setattr(module, "eval_instances", lambda *a, **k: drawn.append(1) or real_draw(*a, **k))
    monkeypatch.setattr(envs, "make_env", lambda *a, **k: made.append(1) or real_make(*a, **k))
    monkeypatch.setattr(agent_loop, "train_agent", lambda config, **k: [])
    base = TrainConfig(env="gridworld", warm_start_steps=0, out=str(tmp_path / "cmp"), prompts_per_step=1,
                       group_size=2, max_new_tokens=8, eval_problems=4, progress=False, tensorboard=False)

    def envs_made(seeds: list[int]) -> int:
        made.clear()
        drawn.clear()
        run_comparison(base, ["grpo", "rtmc"], seeds, 500, tmp_path / f"cmp{len(seeds)}", jobs=1,
                       log=lambda *a: None)
        return len(made)

    one_seed, two_seeds = envs_made([0]), envs_made([0, 1])
    assert len(drawn) == 1  # once for both arms, handed to their warm start (was: drawn there again)
    assert two_seeds - one_seed == 2  # a seed more, one env per run: its config's check (was: 2, checked again)


@pytest.mark.parametrize("where", ["global", "arm"])
def test_an_agent_runs_option_check_says_global_or_names_the_arm_as_a_task_runs_does(tmp_path, capsys, where):
    arms = "grpo,rtmc" if where == "global" else "grpo,rtmc[sampler.max_len=100]"
    extra = ["--sampler-option", "max_len=100"] if where == "global" else []
    args = ["compare", "--env", "gridworld", "--estimators", arms, "--seeds", "2", "--budget", "50000",
            "--out", str(tmp_path / "cmp"), "--cache-dir", str(tmp_path / "cache"), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err
    label = "a global setting, the same in every arm" if where == "global" else "arm 'rtmc[sampler.max_len=100]'"
    assert f"error: sampler_options ({label}): --sampler-option max_len=100 (agent episodes): max_len: a first " \
           "observation of" in err, err
    assert where == "arm" or "arm 'grpo'" not in err  # a global setting is no fault of the first arm checked
    assert not (tmp_path / "cache").exists() and not (tmp_path / "cmp").exists()


@pytest.mark.parametrize("arm,fix", [
    # the arm sets its own group size: lowering --group-size would not help it
    ("grpo[group_size=27]", "Fix: pass --budget 1728 or more, or lower the arm's own [group_size=27] in its spec "
     "'grpo[group_size=27]' (--estimators), or pass fewer --prompts-per-step or --max-new-tokens."),
    ("grpo[group_size=27,max_new_tokens=16,prompts_per_step=4]", "lower the arm's own [group_size=27,"
     "max_new_tokens=16,prompts_per_step=4] in its spec"),
    ("grpo[lr=0.01]", "Fix: pass --budget 512 or more, or fewer --prompts-per-step, --group-size or "
     "--max-new-tokens."),  # the arm sets no step size: the global flags
])
def test_a_budget_error_names_the_step_size_the_arm_sets_itself(tmp_path, arm, fix):
    from treecredit.training.compare import run_comparison

    base = TrainConfig(warm_start_steps=0, out=str(tmp_path / "cmp"), prompts_per_step=4, group_size=8,
                       max_new_tokens=16, estimator="grpo")
    with pytest.raises(ValueError, match=r"^budget \(arm ") as error:
        run_comparison(base, [arm], [0], 500, tmp_path / "cmp", jobs=1, log=lambda *a: None)
    assert f"(arm {arm!r})" in str(error.value) and fix in str(error.value), str(error.value)
    assert "--group-size" not in str(error.value) or "group_size=" not in arm


@pytest.mark.parametrize("arms,warm_starts", [(["grpo", "rtmc[env.signature=observation,lr=0.01]"], 1),
                                              (["grpo", "rtmc[warm_start_lr=0.01]"], 2)])
def test_compare_env_builds_each_distinct_warm_start_once(tmp_path, monkeypatch, arms, warm_starts):
    from treecredit.training import agent_loop
    from treecredit.training.compare import run_comparison

    built = []
    monkeypatch.setattr(agent_loop, "build_agent_policy",
                        lambda config, env_fn, settings, agent, log, max_len=None, eval_split=None:
                        built.append(config.warm_start_lr))
    monkeypatch.setattr(agent_loop, "train_agent", lambda config, **k: [])
    base = TrainConfig(env="gridworld", warm_start_steps=1, out=str(tmp_path / "cmp"), prompts_per_step=1,
                       group_size=2, max_new_tokens=8, eval_problems=4, progress=False, tensorboard=False)
    run_comparison(base, arms, [0], 500, tmp_path / "cmp", jobs=1, log=lambda *a: None)
    assert len(built) == warm_starts  # a signature or an lr does not change the warm start, its own lr does


def test_mc_rollouts_for_some_arms_only_is_given_in_their_brackets(tmp_path, monkeypatch):
    """A global --mc-rollouts that an arm's estimator does not read is refused with the arms' own syntax as the
    fix (the train fix, drop the flag, would drop it for vine too); in vine's brackets it passes the checks."""
    built = []
    monkeypatch.setattr("treecredit.training.loop.train", lambda config, log=None, **kw: _records())
    monkeypatch.setattr("treecredit.training.loop.build_policy", lambda config, task, log: built.append(task))
    base = TrainConfig(warm_start_steps=0, out=str(tmp_path / "cmp"), sampler="tree", mc_rollouts=1,
                       estimator="treerl", group_size=4, branching_options={"children": 2, "depth": 2})
    with pytest.raises(ValueError, match=r"^mc_rollouts \(a global setting, the same in every arm\): .*'treerl' does "
                       r"not read them.* Fix: give it only to the arms .*vine@tree\[mc_rollouts=2\]"):
        run_comparison(base, ["treerl@tree", "vine@tree"], [0], 5000, tmp_path / "cmp", jobs=1, log=lambda *a: None)
    assert built == []
    run_comparison(replace(base, mc_rollouts=0), ["treerl@tree", "vine@tree[mc_rollouts=1]"], [0], 5000,
                   tmp_path / "cmp", jobs=1, log=lambda *a: None)
    assert built  # past every check: the warm start was built


def _records() -> list[dict]:
    """A finished run's records, as a fake ``train`` returns them."""
    evals = [{"kind": "eval", "step": s, "generated_tokens": t, "eval_sampled_pass1": 0.5, "eval_greedy_pass1": 0.5,
              "eval_step_accuracy": 0.5} for s, t in ((0, 0), (1, 100))]
    return [evals[0], {"kind": "train", "step": 1, "generated_tokens": 100, "elapsed_s": 1.0, "flops": 1.0,
                       "adv_step_credit_share": 0.0}, evals[1]]


def test_a_comparisons_run_shows_its_python_warnings_only_in_its_log(tmp_path, monkeypatch, capsys):
    """compare's runs print nothing themselves (docs/runs.md): a warning a run gives (a tree that did not
    branch) went to the comparison's stderr too, once per run and unlabelled with --jobs 2."""
    import warnings

    from treecredit.training import compare

    def train(config, log=None, **flags):
        from treecredit.training.run_log import RunLog

        with RunLog(config.out, resume=False) as run_log:
            run_log.begin("run started")
            warnings.warn("trees did not branch", UserWarning, stacklevel=2)
        return _records()

    monkeypatch.setattr("treecredit.training.loop.train", train)
    (tmp_path / "r").mkdir()
    import sys

    with warnings.catch_warnings():  # as outside pytest: a shown warning is printed on stderr
        warnings.simplefilter("always")
        warnings.showwarning = lambda message, *a, **k: print(f"shown: {message}", file=sys.stderr)
        compare._train_run(TrainConfig(out=str(tmp_path / "r")), {})
    assert "trees did not branch" not in capsys.readouterr().err
    assert "trees did not branch" in (tmp_path / "r" / "log.txt").read_text()


@pytest.mark.parametrize("word", ["none", "foo"])
def test_an_arm_with_no_close_estimator_is_offered_the_list_not_a_guess(word):
    # was: "Fix: write vine." for 'none' and "write rloo" for 'foo' (difflib cutoff 0.5; train's is 0.6)
    with pytest.raises(ValueError, match=r"Fix: start the arm with one of dr_grpo, grpo, .*vine\.$"):
        check_arm_names([word])
