"""Every configuration fault is refused before any work: no warm start, no evaluation, no file written."""

import json
import sys

import pytest
import torch

import treecredit
from treecredit.registry import _REGISTRY, register_estimator
from treecredit.training.loop import train
from treecredit.training.preflight import check_run

torch.set_num_threads(1)


def _refused_before_work(config, match, **kwargs):
    with pytest.raises(ValueError, match=match):
        train(config, log=lambda *a: None, **kwargs)
    from pathlib import Path

    cache, out = Path(config.cache_dir), Path(config.out)
    assert not cache.exists() or not any(cache.iterdir()), "the warm start ran"
    assert not (out / "metrics.jsonl").exists(), "the first evaluation ran"


@pytest.fixture
def needs_tree():
    """A throwaway estimator that declares that it needs a sampled tree (removed afterwards)."""

    @register_estimator("_needs_tree_test", requires=("tree",))
    def _needs_tree_test(batch, *, tau: float = 0.1, tree_nodes=None):
        raise AssertionError("never called")

    yield "_needs_tree_test"
    del _REGISTRY["token"]["_needs_tree_test"]


def test_declared_need_not_met_is_refused_before_work(tiny_config, needs_tree):
    _refused_before_work(tiny_config(estimator=needs_tree),
                         r"^estimator: '_needs_tree_test' needs tree.*--sampler tree")
    check_run(tiny_config(estimator=needs_tree, sampler="tree", branching_options={"children": 2, "depth": 3}))


def test_estimator_option_typo_is_refused_with_the_accepted_names(tiny_config):
    _refused_before_work(tiny_config(estimator="grpo", estimator_options={"norm_by_sdt": False}),
                         r"^estimator_options: estimator 'grpo' has no option 'norm_by_sdt'. Fix: did you mean "
                         r"'norm_by_std'\? use one of: .*epsilon, norm_by_std")


@pytest.mark.parametrize("options, match", [
    ({"norm_by_std": "no"}, r"norm_by_std='no' is a str, estimator 'grpo' expects bool"),
    ({"epsilon": "tiny"}, r"epsilon='tiny' is a str, estimator 'grpo' expects int or float"),
    ({"epsilon": True}, r"epsilon=True is a bool, estimator 'grpo' expects int or float"),
])
def test_estimator_option_of_the_wrong_type_is_refused(tiny_config, options, match):
    _refused_before_work(tiny_config(estimator="grpo", estimator_options=options), "^estimator_options: " + match)


def test_sampler_option_typo_is_refused(tiny_config):
    _refused_before_work(tiny_config(sampler_options={"temprature": 0.5}),
                         r"^sampler_options: sampler 'iid' has no option 'temprature'.*--max-new-tokens")


def test_a_sampler_option_that_a_train_flag_sets_is_refused_with_the_flag(tiny_config):
    with pytest.raises(ValueError, match=r"^sampler_options: --sampler-option temperature=\.\.\. sets what "
                                         r"--temperature sets.*Fix: pass --temperature 0.5 instead"):
        tiny_config(sampler_options={"temperature": 0.5})  # refused with the settings, before any work


def test_replay_leaves_the_branching_cannot_fill_are_refused_before_work(tiny_config):
    # fixed branching with 2 children, 1 level: one root chain (the replayed subtree) holds 2 leaves, not 4
    with pytest.raises(ValueError, match=r"^replay_leaves: is 4, .*children\*\*depth = 2"):  # with the settings
        tiny_config(sampler="tree", group_size=8, replay_leaves=4, branching_options={"children": 2, "depth": 1})
    check_run(tiny_config(sampler="tree", group_size=8, replay_leaves=2, branching_options={"children": 2, "depth": 1}))


def test_tensorboard_asked_for_but_missing_names_the_package(tiny_config, monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorboard", None)  # import fails as if not installed
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    _refused_before_work(tiny_config(tensorboard=True), r"^tensorboard: .*not installed.*pip install tensorboard")
    check_run(tiny_config(tensorboard=None))  # unset: written when installed, no error


def test_resume_and_overwrite_together_are_refused(tiny_config):
    _refused_before_work(tiny_config(), r"^resume: --resume and --overwrite", resume=True, overwrite=True)


def test_agent_runs_check_their_folder_and_tensorboard_before_work(tmp_path, monkeypatch, capsys):
    from treecredit.cli import main

    args = ["train", "--env", "gridworld", "--estimator", "rtmc", "--out", str(tmp_path / "run"),
            "--cache-dir", str(tmp_path / "cache")]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "metrics.jsonl").write_text("")
    assert main(args) == 2
    assert "already holds a run" in capsys.readouterr().err
    (tmp_path / "run" / "config.json").write_text(json.dumps({"env": "frozenlake"}))
    assert main(args + ["--resume"]) == 2  # agent runs resume, under the same settings only
    assert "resume: the run in" in capsys.readouterr().err
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    assert main(args + ["--overwrite", "--tensorboard"]) == 2
    assert "pip install tensorboard" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists() and (tmp_path / "run" / "metrics.jsonl").exists()


def test_a_prompt_and_response_longer_than_the_small_gpts_positions_are_refused(tiny_config):
    # one-operator prompts are a few characters: 24 positions cannot also hold 32 new tokens
    _refused_before_work(tiny_config(max_len=24, max_new_tokens=32), r"^max_len: .*pass --max-len \d+")
    check_run(tiny_config(max_len=96, max_new_tokens=32))  # the default context fits


@pytest.mark.parametrize("extra,name", [(["--reward", "exact"], "reward"), (["--task", "countdown"], "task"),
                                        (["--max-len", "40"], "max_len"), (["--cutoff", "sound"], "cutoff"),
                                        (["--eval-mode", "greedy"], "eval_mode"),
                                        (["--eval-time-share", "0.2"], "eval_time_share"),
                                        (["--task-option", "x=1"], "task_options"),
                                        (["--sampler", "tree"], "sampler"),
                                        (["--branching", "adaptive"], "branching"),
                                        # given at their default values: still given, still ignored
                                        (["--task", "arithmetic"], "task"), (["--sampler", "iid"], "sampler")])
def test_agent_runs_refuse_task_run_options_they_would_ignore(tmp_path, capsys, extra, name):
    from treecredit.cli import main

    args = ["train", "--env", "gridworld", "--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache")]
    assert main(args + extra) == 2
    assert f"error: {name}: {extra[0]} is for task runs" in capsys.readouterr().err  # the field's name, as elsewhere
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run").exists()


def test_cutoff_outside_the_tree_sampler_is_refused_and_a_no_op_cutoff_is_said(tiny_config, capsys):
    _refused_before_work(tiny_config(cutoff="sound"), r"^cutoff: .*add --sampler tree")
    tree = {"sampler": "tree", "branching_options": {"children": 2, "depth": 3}}
    check_run(tiny_config(cutoff="sound", **tree))  # arithmetic: a wrong step is not fatal
    assert "prunes nothing on this task" in capsys.readouterr().out
    check_run(tiny_config(cutoff="sound", task="countdown", task_options={}, **tree))
    assert "prunes nothing" not in capsys.readouterr().out


@pytest.mark.parametrize("overrides, match", [
    ({"estimator": "grpo", "estimator_options": {"epsilon": -1}},
     r"--estimator-option epsilon=-1: estimator 'grpo' refuses it .*Fix: pass a non-negative epsilon"),
    ({"estimator": "treerpo", "sampler": "tree", "estimator_options": {"scale": "bogus"}},
     r"--estimator-option scale=bogus: estimator 'treerpo' refuses it .*'bernoulli'"),
    ({"estimator": "treerpo", "estimator_options": {"delimiter": "abc"}},
     r"--estimator-option delimiter=abc: .*delimiter takes token ids.*Fix: give the delimiter as token ids, "
     r"--estimator-option delimiter=\[ID, \.\.\.\], or drop it: the 'arithmetic' task's delimiter '=' is fixed"),
    ({"estimator": "treerpo", "estimator_options": {"delimiter": "\n"}}, r'--estimator-option delimiter="\\n": '),
    ({"estimator": "treerpo", "sampler": "tree", "estimator_options": {"step_tokens": 2}},
     r"estimator 'treerpo' fails with --estimator-option step_tokens=2 .*tree_nodes"),
])
def test_estimator_option_values_are_refused_before_work(tiny_config, overrides, match):
    _refused_before_work(tiny_config(**overrides), r"^estimator_options: " + match)


def test_an_estimator_that_needs_steps_is_told_how_to_give_them(tiny_config, tmp_path):
    rows = "".join(json.dumps({"prompt": f"{i}+1=", "answer": str(i + 1)}) + "\n" for i in range(4))
    (tmp_path / "d.jsonl").write_text(rows)
    config = tiny_config(estimator="vine", sampler="tree", mc_rollouts=1, dataset=str(tmp_path / "d.jsonl"),
                         task_options={"delimiter": ""})
    _refused_before_work(config, r"^estimator: 'vine' needs steps, .*Fix: give the task a step delimiter, "
                                 r"--task-option delimiter=TEXT, or pass --estimator-option step_tokens=N or "
                                 r"delimiter=\[TOKEN_ID, \.\.\.\]\.$")


def test_a_text_delimiter_option_is_sent_to_the_task_only_where_the_task_takes_one(tiny_config, tmp_path):
    """arithmetic fixes its delimiter (tested above: 'drop it'); a dataset takes --task-option delimiter."""
    rows = "".join(json.dumps({"prompt": f"{i}+1=", "answer": str(i + 1)}) + "\n" for i in range(4))
    (tmp_path / "d.jsonl").write_text(rows)
    config = tiny_config(estimator="treerpo", dataset=str(tmp_path / "d.jsonl"), task_options={},
                         estimator_options={"delimiter": "abc"})
    _refused_before_work(config, r"^estimator_options: --estimator-option delimiter=abc: .*Fix: give the delimiter "
                                 r"as token ids, --estimator-option delimiter=\[ID, \.\.\.\], or as text to the task, "
                                 r"--task-option delimiter=TEXT")


def _default_options(spec) -> dict:
    return dict(spec.defaults) or ({"step_tokens": 2} if "step_tokens" in spec.options else {})


@pytest.mark.parametrize("name", treecredit.estimators("token"))
def test_the_dry_run_accepts_every_estimators_default_option_values(tiny_config, name):
    """The dry run must not refuse a valid option: each estimator, with its defaults passed explicitly, under
    each sampler that can feed it."""
    from treecredit.tasks import task_from_config
    from treecredit.training.dry_run import check_estimator_options
    from treecredit.training.preflight import available_inputs

    spec = treecredit.get_estimator(name)
    options = _default_options(spec)
    for sampler in ("iid", "tree"):
        config = tiny_config(estimator="grpo", sampler=sampler, mc_rollouts=1 if sampler == "tree" else 0,
                             branching_options={"children": 2, "depth": 3} if sampler == "tree" else {})
        config.estimator, config.estimator_options = name, options
        task = task_from_config(config)
        if spec.missing(available_inputs(config, task)):
            continue
        check_estimator_options(config, task)


def test_agent_run_and_compare_arm_option_values_are_refused_before_work(tmp_path, capsys):
    from treecredit.cli import main
    from treecredit.training.dry_run import check_estimator_options

    common = ["--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache")]
    assert main(["train", "--env", "gridworld", "--estimator", "rtmc", "--estimator-option", "gamma=-1", *common]) == 2
    assert "--estimator-option gamma=-1: estimator 'rtmc' refuses it" in capsys.readouterr().err
    assert main(["compare", "--estimators", "grpo,treerpo@tree[scale=bogus]", "--seeds", "1", "--jobs", "1",
                 *common]) == 2
    err = capsys.readouterr().err  # the arm's own option: named in the arm's syntax, not as a flag
    assert "arm 'treerpo@tree[scale=bogus]': option scale=bogus: estimator 'treerpo' refuses it" in err
    assert "(in the arm: treerpo@tree[scale=VALUE])" in err and "--estimator-option" not in err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run").exists()
    from treecredit.training.config import TrainConfig

    for name in treecredit.estimators("turn"):  # valid values pass for every turn-level estimator
        spec = treecredit.get_estimator(name, level="turn")
        check_estimator_options(TrainConfig(env="gridworld", estimator=name, estimator_options=dict(spec.defaults)))


def test_what_the_trainer_fills_in_from_the_batch_is_not_an_option(tiny_config):
    _refused_before_work(tiny_config(estimator="tempo", estimator_options={"tree_nodes": 1}),
                         r"^estimator_options: estimator 'tempo': 'tree_nodes' is filled in by the trainer")
    with pytest.raises(ValueError, match="did you mean 'scale'") as refused:
        train(tiny_config(estimator="treerpo", estimator_options={"scal": "none"}), log=lambda *a: None)
    offered = str(refused.value).split("use one of: ")[1]
    assert "scale" in offered and not any(name in offered for name in ("batch", "step_ends", "tree_nodes"))


def test_a_dataset_is_refused_as_ignored_before_it_is_read_and_a_task_with_a_dataset_too(tmp_path):
    from treecredit.training.config import TrainConfig

    data = tmp_path / "data.jsonl"
    data.write_text(json.dumps({"question": "1+1=", "answer": "2"}) + "\n")  # no 'prompt' column
    with pytest.raises(ValueError, match=r"^dataset: --dataset is for task runs; --env frozenlake would ignore it"):
        TrainConfig(env="frozenlake", estimator="rtmc", dataset=str(data), out=str(tmp_path / "run"))
    with pytest.raises(ValueError, match=r"^task: --task countdown and --dataset were both given; a dataset run "
                                         r"would ignore --task\. Fix: drop --task"):
        TrainConfig(task="countdown", dataset=str(data), task_options={"prompt_column": "question"},
                    out=str(tmp_path / "run"))


def test_a_dataset_without_held_out_rows_is_refused_before_work(tmp_path):
    """``held_out=0`` leaves nothing to evaluate: a trial's run wrote pass@1 0.0 for an empty set."""
    import json as json_module

    from treecredit.training.config import TrainConfig
    from treecredit.training.evaluation import EvalPlan, evaluate_held_out

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json_module.dumps({"prompt": f"{i}+1=", "answer": str(i + 1)}) + "\n" for i in range(8)))
    config = TrainConfig(dataset=str(data), task_options={"held_out": 0}, out=str(tmp_path / "run"), progress=False)
    with pytest.raises(ValueError, match=r"^held_out: leaves no held-out problems.*Fix: pass --task-option "
                                         r"held_out=0\.1"):
        check_run(config)
    assert not (tmp_path / "run").exists()
    plan = EvalPlan(greedy=True, sampled=False, problems=0, every=0, time_share=0.0, reason="")
    from types import SimpleNamespace

    record = evaluate_held_out(None, SimpleNamespace(has_step_checker=False), [], plan,
                               sampler_cls=lambda **settings: None, temperature=1.0, top_p=1.0, max_new_tokens=4,
                               seed=0)
    assert record["eval_problems"] == 0 and record["eval_greedy_pass1"] != record["eval_greedy_pass1"]  # NaN
