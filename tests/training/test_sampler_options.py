"""``--sampler-option`` values: every fault refused with the project's message and exit status 2, before any work;
a sampler option that a train flag sets is refused naming the flag (the two would disagree)."""

import pytest

from treecredit.cli import main
from treecredit.sampling.tree import TreeSampler
from treecredit.training.preflight import check_option_values


def _train(tmp_path, *args):
    return main(["train", "--steps", "2", "--out", str(tmp_path / "run"), "--cache-dir", str(tmp_path / "cache"),
                 "--no-tensorboard", *args])


def test_a_dict_option_of_the_wrong_type_is_refused_with_a_dict_example():
    # the dataclass field's default is a factory: its signature shows a sentinel that json.dumps cannot write
    with pytest.raises(ValueError, match=r"^sampler_options: branching_options='x' is a str, sampler 'tree' expects "
                                         r"dict. Fix: pass branching_options=\{\} or another dict\.$"):
        check_option_values(TreeSampler, {"branching_options": "x"}, "sampler_options", "sampler 'tree'")


@pytest.mark.parametrize("option, extra, fix", [
    ("branching_options=x", [], "--branching-option KEY=VALUE"),
    ('branching_options={"children": 4}', [], "--branching-option children=4"),
    ("branching=entropy", ["--branching", "adaptive"], "--branching entropy"),
    ("cutoff=any", ["--cutoff", "sound"], "--cutoff any"),
    ("mc_rollouts=2", [], "--mc-rollouts 2"),
    ("replay_leaves=2", [], "--replay-leaves 2"),
    ("replay_max_weight=3", [], "--replay-max-weight 3"),
    ("branching=entropy", ["--branching-option", "chains=2"], "--branching entropy"),
])
def test_a_sampler_option_that_a_train_flag_sets_is_refused_naming_the_flag(tmp_path, capsys, option, extra, fix):
    assert _train(tmp_path, "--sampler", "tree", "--sampler-option", option, *extra) == 2
    err = capsys.readouterr().err
    name = option.split("=")[0]
    flag = fix.split()[0]
    assert f"error: sampler_options: --sampler-option {name}=... sets what {flag} sets" in err, err
    assert f"Fix: pass {fix} instead." in err and "Traceback" not in err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run" / "metrics.jsonl").exists()


def test_the_no_option_error_lists_only_the_samplers_own_options(tmp_path, capsys):
    assert _train(tmp_path, "--sampler", "tree", "--sampler-option", "foo=1") == 2
    err = capsys.readouterr().err
    assert "sampler 'tree' has no option 'foo'. Fix: use one of: schedule." in err, err
    assert _train(tmp_path, "--sampler-option", "temprature=0.5") == 2  # i.i.d.: no options of its own
    err = capsys.readouterr().err
    assert "sampler 'iid' has no option 'temprature'. Fix: did you mean --temperature (a train flag)? drop " \
           "--sampler-option temprature (sampler 'iid' takes no options of its own; its settings are the train " \
           "flags --temperature, --top-p, --max-new-tokens)." in err, err


@pytest.mark.parametrize("args, expected", [
    (["--replay-leaves", "2"], "error: replay_leaves: is 2: a revisited problem grows G − r = 8 − 2 = 6 new leaves, "
                               "which must be a multiple of children**depth = 4. Fix: pass --replay-leaves"),
    (["--replay-leaves", "8"], "error: replay_leaves: is 8, not below the group size G = 8 (--group-size)"),
    (["--replay-max-weight", "0.5"], "error: replay_max_weight: is 0.5, must be a finite number ≥ 1"),
    (["--replay-leaves", "4", "--replay-max-weight", "-3"], "error: replay_max_weight: is -3.0, must be a finite"),
    (["--replay-max-weight", "5"], "error: replay_max_weight: --replay-max-weight 5.0 truncates the importance "
                                   "weights of replayed leaves, but replay is off (--replay-leaves 0)"),
    (["--mc-rollouts", "2", "--estimator", "treerl"], "error: mc_rollouts: --mc-rollouts 2 spends 2 rollouts per "
                                                      "step end on Monte Carlo values, but estimator 'treerl' does not "
                                                      "read them (only vine does). Fix: drop --mc-rollouts"),
    (["--branching-option", "children"], "error: --branching-option: 'children' is not KEY=VALUE. Fix: write "
                                         "--branching-option key=value, e.g. --branching-option children=2."),
    (["--branching-option", "children=2", "--branching-option", "children=4"],
     "error: --branching-option: children was given twice (children=2 and children=4)"),
])
def test_tree_flags_that_would_fail_or_be_ignored_are_refused_by_their_flag(tmp_path, capsys, args, expected):
    assert _train(tmp_path, "--sampler", "tree", *args) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err, err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run" / "metrics.jsonl").exists()


@pytest.mark.parametrize("args, expected", [
    # the i.i.d. sampler ignores --branching: the fix names --sampler tree too
    (["--sampler-option", "branching=entropy"],
     "error: sampler_options: --sampler-option branching=... sets what --branching sets, which only the tree "
     "sampler reads (the 'iid' sampler would ignore both). Fix: pass --sampler tree --branching entropy instead."),
    (["--sampler-option", "mc_rollouts=2"], "Fix: pass --sampler tree --mc-rollouts 2 instead."),
    # the flag is given with the same value: the two agree, only the option is to go
    (["--sampler", "tree", "--sampler-option", "branching=fixed", "--branching", "fixed"],
     "error: sampler_options: --sampler-option branching=... sets what --branching sets, and --branching fixed is "
     "given too. Fix: drop --sampler-option branching=... (--branching sets it)."),
    (["--sampler-option", "temperature=0.7", "--temperature", "0.7"],
     "Fix: drop --sampler-option temperature=... (--temperature sets it)."),
])
def test_the_fix_for_a_sampler_option_that_a_flag_sets_fits_the_run(tmp_path, capsys, args, expected):
    assert _train(tmp_path, *args) == 2
    err = capsys.readouterr().err
    assert expected in err and "would disagree" not in err and "Traceback" not in err, err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "run" / "metrics.jsonl").exists()


def test_the_suggested_fixes_are_accepted(tmp_path):
    from treecredit.training.config import TrainConfig

    # what the i.i.d. refusal suggests (--sampler tree --branching entropy), and what is left once the option
    # that repeated --branching fixed is dropped
    for branching in ("entropy", "fixed"):
        config = TrainConfig(sampler="tree", branching=branching, out=str(tmp_path / "run"),
                             given=frozenset({"sampler", "branching"}))
        assert config.tree_sampler_options()["branching"] == branching


@pytest.mark.parametrize("k, spends", [("1", "spends 1 rollout per step end"), ("3", "spends 3 rollouts per step end")])
def test_the_mc_rollouts_refusal_counts_in_the_singular_for_one(tmp_path, capsys, k, spends):
    assert _train(tmp_path, "--sampler", "tree", "--mc-rollouts", k) == 2
    err = capsys.readouterr().err
    assert f"error: mc_rollouts: --mc-rollouts {k} {spends} on Monte Carlo values" in err, err
