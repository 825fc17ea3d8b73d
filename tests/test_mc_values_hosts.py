"""Every place that cannot give Monte Carlo values of each prefix (``mc_values``) refuses each estimator that needs
them (``EstimatorSpec.needs("mc_values")``: ``vine``) before any work, saying why, with a fix that does not ask
for them: ``treecredit train`` without ``--mc-rollouts``, agent runs and ``compare --env``, ``treecredit demo``,
TRL's trainer and verl's advantage step. One test over the hosts and the estimators (was six, in six files, each
about vine by name)."""

import re
from pathlib import Path

import pytest

import treecredit
from treecredit.registry import get_estimator

NEEDS_MC = [name for name in treecredit.estimators("token") if get_estimator(name).needs("mc_values")]
TINY = dict(n_layer=1, n_head=2, n_embd=16, prompts_per_step=2, group_size=2, max_new_tokens=8, eval_problems=4,
            warm_start_steps=5, progress=False, tensorboard=False)


def _train(name, tmp_path, capsys):
    from treecredit.training.config import TrainConfig
    from treecredit.training.loop import train

    train(TrainConfig(estimator=name, out=str(tmp_path / "run"), cache_dir=str(tmp_path / "cache"), **TINY),
          log=lambda *a: None)


def _agent(name, tmp_path, capsys):
    from treecredit.training.config import TrainConfig

    TrainConfig(env="gridworld", estimator=name, out=str(tmp_path / "run"))


def _cli(*args):
    def run(name, tmp_path, capsys):
        from treecredit.cli import main

        argv = [a.format(name=name, tmp=tmp_path) for a in args]
        assert main(argv) == 2
        raise ValueError(capsys.readouterr().err)
    return run


def _trl(**kwargs):
    def run(name, tmp_path, capsys):
        pytest.importorskip("trl")
        from treecredit.integrations.trl import TreeCreditGRPOTrainer

        TreeCreditGRPOTrainer(model=None, estimator=name, **kwargs)
    return run


def _verl(name, tmp_path, capsys):
    pytest.importorskip("torch")
    from treecredit.integrations import verl

    verl.make_adv_estimator(name)


HOSTS = {
    "train": (_train, r"^estimator: '{name}' needs mc_values.*--mc-rollouts"),
    "agent": (_agent, r"^estimator: '{name}' needs Monte Carlo values of each prefix \(mc_values\), which agent "
                      r"episodes \(--env\) do not produce\. Fix: use a turn-level"),
    "compare-env": (_cli("compare", "--env", "gridworld", "--estimators", "grpo,{name}", "--seeds", "1",
                           "--budget", "100", "--out", "{tmp}/cmp", "--cache-dir", "{tmp}/cache"),
                      r"'{name}' needs Monte Carlo values of each prefix \(mc_values\), which agent episodes"),
    "demo": (_cli("demo", "--estimators", "grpo", "{name}"),
             r"estimators: '{name}' needs Monte Carlo values of each prefix \(mc_values\), which the demo does not "
             r"sample\. Fix: leave it out of --estimators"),
    "trl": (_trl(), r"^estimator: '{name}' needs Monte Carlo values .*TRL's GRPOTrainer does not produce"),
    "trl-step-pattern": (_trl(step_pattern="a"), r"^estimator: '{name}' needs Monte Carlo"),
    "verl": (_verl, r"^estimator: '{name}' needs Monte Carlo values .*verl's advantage step does not produce"),
}


def test_vine_is_the_estimator_that_needs_monte_carlo_values():
    assert NEEDS_MC == ["vine"]  # a new one is covered below as it is


def test_a_token_estimator_that_needs_none_passes_the_agent_check(tmp_path):
    from treecredit.training.config import TrainConfig

    TrainConfig(env="gridworld", estimator="tempo", out=str(tmp_path / "run"))  # other token-level ones train


@pytest.mark.parametrize("name", NEEDS_MC)
@pytest.mark.parametrize("host", list(HOSTS))
def test_an_estimator_that_needs_monte_carlo_values_is_refused_where_none_are_made(host, name, tmp_path, capsys):
    call, expected = HOSTS[host]
    with pytest.raises(ValueError) as refused:
        call(name, tmp_path, capsys)
    message = str(refused.value)
    assert re.search(expected.format(name=re.escape(name)), message, re.S), message
    assert "Fix: pass mc_values" not in message  # the core API's fix, which no host can follow
    cache, out = Path(tmp_path / "cache"), Path(tmp_path / "run")
    assert not cache.exists() or not any(cache.iterdir()), "the warm start ran"
    assert not (out / "metrics.jsonl").exists() and not (tmp_path / "cmp").exists(), "the run started"


def test_the_hosts_ask_the_spec_whether_it_needs_monte_carlo_values():
    # was: six modules spelt the check out over spec.requires themselves (two by substring), so a change to
    # how requires writes alternatives had six places to follow; EstimatorSpec.needs is the one reading
    src = Path(treecredit.__file__).parent
    spelt = [f"{path.relative_to(src)}:{i}" for path in sorted(src.rglob("*.py")) if path.name != "registry.py"
             for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"for need in .*\.requires\b", line)]
    assert not spelt, f"read spec.requires through EstimatorSpec.needs(part) or .missing(given): {spelt}"
