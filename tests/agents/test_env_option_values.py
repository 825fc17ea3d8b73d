"""An own env's option values (``--env-option key=value``, ``make_env(name, key=value)``) are converted to the type
of the option's default, or refused naming the class whose ``__init__`` has it and the fix in both forms."""

import re

import pytest

from treecredit.envs import make_env
from treecredit.training.config import TrainConfig


@pytest.mark.parametrize("option, owner, default", [("max_turns", "TextEnv", "8"), ("n", "Guess", "4"),
                                                    ("cap", "Tuned", "3")])
def test_a_refused_value_names_the_class_whose_init_has_the_option(option, owner, default):
    # was: "the type of its default 8 in Tuned.__init__", though max_turns is TextEnv.__init__'s
    with pytest.raises(ValueError, match=rf"^{option}: is 'abc' \(str\), not an int \(the type of its default "
                       rf"{default} in {owner}\.__init__\)\. Fix: pass an int, e\.g\. --env-option "
                       rf"{option}={default} \(in Python: {option}={default}\)"):
        make_env("own_env_helpers:Tuned", **{option: "abc"})


@pytest.mark.parametrize("option, value, fix", [("hard", 0, "hard=false (in Python: hard=False)"),
                                                ("label", 5.5j, "label=x (in Python: label='x')")])
def test_the_fix_is_given_as_a_flag_and_in_python(option, value, fix):
    # was: only "--env-option hard=false", wrong for make_env(..., hard=0) in Python
    env = "own_env_helpers:Closed" if option == "hard" else "own_env_helpers:Tuned"
    with pytest.raises(ValueError, match=rf"Fix: pass a (bool \(true or false\)|str), e\.g\. --env-option "
                       rf"{re.escape(fix)}\.$"):
        make_env(env, **{option: value})


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity", " INF", "1e400", float("nan"), float("-inf"),
                                   pytest.param(10**400, id="10**400")])
def test_a_float_option_refuses_a_value_that_is_not_finite(tmp_path, value):
    # was: nan and inf were taken (task options refuse them); 10**400 raised OverflowError
    with pytest.raises(ValueError, match=rf"^env_options: --env-option ratio=.* \(env 'own_env_helpers:Tuned'\): "
                       rf"ratio: is .* \({type(value).__name__}\), not a finite float \(the type of its default 1\.0 "
                       r"in Tuned\.__init__\)\. Fix: pass a finite float, e\.g\. --env-option ratio=1\.0 "
                       r"\(in Python: ratio=1\.0\)\.$"):
        TrainConfig(env="own_env_helpers:Tuned", env_options={"ratio": value}, estimator="rtmc",
                    out=str(tmp_path / "run"), group_size=2)
    env = make_env("own_env_helpers:Tuned", ratio="2")
    assert env.ratio == 2.0 and type(env.ratio) is float


def test_none_is_refused_unless_the_annotation_allows_it(tmp_path):
    # was: --env-option label=null (JSON null) reached the env as None, though label's default is a str
    with pytest.raises(ValueError, match=r"^env_options: --env-option label=None \(env 'own_env_helpers:Tuned'\): "
                       r"label: is None \(NoneType\), not a str \(the type of its default 'x' in Tuned\.__init__\)\. "
                       r"Fix: pass a str, e\.g\. --env-option label=x \(in Python: label='x'\); to let it be None, "
                       r"annotate it in Tuned\.__init__ \(label: str \| None = 'x'\); for the text null: "
                       r"--env-option label=null \(in Python: label='null'\)\.$"):
        TrainConfig(env="own_env_helpers:Tuned", env_options={"label": None}, estimator="rtmc",
                    out=str(tmp_path / "run"), group_size=2)
    with pytest.raises(ValueError, match=r"^n: is None \(NoneType\), not an int .* Fix: pass an int, e\.g\. "
                       r"--env-option n=4 \(in Python: n=4\); to let it be None, annotate it in Guess\.__init__ "
                       r"\(n: int \| None = 4\)\.$"):
        make_env("own_env_helpers:Tuned", n=None)
    with pytest.raises(ValueError, match=r"^size: is None \(NoneType\), not an int .* \(in Python: size=4\)\.$"):
        make_env("gridworld", size=None)  # a built-in env's option: no advice to annotate it
    assert make_env("own_env_helpers:Tuned", cap=None).cap is None  # its annotation says int | None
    assert make_env("own_env_helpers:Tuned", label="null").label == "null"  # --env-option 'label="null"'



def test_the_fix_for_the_text_null_is_a_command_that_gives_it(tmp_path):
    # was: the fix said --env-option 'label="null"', though label=null is the text 'null' for a str option
    from treecredit.training.train_cli import env_option_texts

    with pytest.raises(ValueError, match=r"for the text null: --env-option label=null \(in Python: label='null'\)"):
        make_env("own_env_helpers:Tuned", label=None)
    assert env_option_texts("own_env_helpers:Tuned", {"label": None}, {"label": "null"}) == {"label": "null"}


@pytest.mark.parametrize("env", ["SetsInKwargs", "UpdatesKwargs"])
def test_a_parent_option_set_in_the_kwargs_passed_on_is_no_option(env):
    from treecredit.envs import env_options

    # was: n=3 was taken as an option and then overwritten by size without a word (the env played n=4)
    with pytest.raises(ValueError, match=rf"^env_options: environment 'own_env_helpers:{env}' has no option\(s\) "
                       rf"\['n'\]: {env}\.__init__ sets Guess's n itself \(it passes n=\.\.\. to Guess\.__init__\)\. "
                       r"Fix: use some of: max_turns .*, size \(default 4\)\.$"):
        make_env(f"own_env_helpers:{env}", n=3)
    assert make_env(f"own_env_helpers:{env}", size=3).n == 3
    assert "max_turns" in env_options(f"own_env_helpers:{env}")
    assert make_env("own_env_helpers:SetsInKwargs").max_turns == 5
    assert make_env("own_env_helpers:SetsInKwargs", max_turns=2).max_turns == 2  # setdefault: the option wins


@pytest.mark.parametrize("value", ["5", 5.0, 5])
def test_a_config_records_the_converted_value_the_env_got(tmp_path, value):
    # was: env_options={"n": "5"} (or 5.0) was accepted and config.json recorded "5" (5.0), not what the env got
    config = TrainConfig(env="own_env_helpers:Guess", env_options={"n": value, "max_turns": "3"}, estimator="rtmc",
                         out=str(tmp_path / "run"))
    assert config.env_options == {"n": 5, "max_turns": 3}
    assert type(config.env_options["n"]) is int and config.saved_dict()["env_options"] == {"n": 5, "max_turns": 3}


def test_an_arms_env_option_of_the_wrong_type_gets_its_fix_in_the_arms_syntax(tmp_path, capsys):
    # was: "Fix: write gigpo[env.n=VALUE] (pass an int, e.g. --env-option n=4 (in Python: n=4))": arm, flag and
    # Python syntax mixed in one fix
    from treecredit.cli import main

    code = main(["compare", "--env", "own_env_helpers:Guess", "--estimators", "rtmc,gigpo[env.n=x]", "--seeds", "1",
                 "--budget", "400", "--out", str(tmp_path / "cmp")])
    err = capsys.readouterr().err
    assert code != 0
    assert "n: is 'x' (str), not an int (the type of its default 4 in Guess.__init__). Fix: write gigpo[env.n=4] " \
           "(an int)." in err, err
