"""``treecredit demo --estimators``: names checked before anything is printed, repeats shown once, an empty
list and estimators that need inputs the demo does not sample refused (exit 2); the help's default agrees
with what runs."""

import re

import pytest

import treecredit
from treecredit.cli import build_parser, main


def _shown(out: str) -> list[str]:
    return re.findall(r"^== (\w+) ", out, flags=re.M)


def test_a_repeated_name_is_shown_once(capsys):
    assert main(["demo", "--estimators", "grpo", "treerl", "grpo"]) == 0
    assert _shown(capsys.readouterr().out) == ["grpo", "treerl"]


@pytest.mark.parametrize("names", [["grpo,treerpo"], ["grpo,", "treerpo"], ["grpo", ",treerpo,"]])
def test_names_may_be_separated_by_commas_as_compare_takes_them(names, capsys):
    assert main(["demo", "--estimators", *names]) == 0
    assert _shown(capsys.readouterr().out) == ["grpo", "treerpo"]


@pytest.mark.parametrize("names, expected", [
    (["grpo,grpx"], "estimators: unknown token-level estimator 'grpx' (did you mean 'grpo'?)"),
    ([","], "estimators: no names were given. Fix: pass one or more names"),
    (["grpx"], "estimators: unknown token-level estimator 'grpx' (did you mean 'grpo'?). Fix: use one of: "),
    (["grpo", "grpx"], "estimators: unknown token-level estimator 'grpx'"),
    ([], "estimators: no names were given. Fix: pass one or more names"),
])
def test_bad_names_are_refused_before_anything_is_printed(names, expected, capsys):
    assert main(["demo", "--estimators", *names]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and expected in captured.err
    assert "Fix: pass mc_values" not in captured.err and "vine, " not in captured.err.split("Fix:")[1]


def test_the_default_is_what_the_help_says(capsys):
    from treecredit.demo import runs_on_demo_group

    assert main(["demo"]) == 0
    shown = _shown(capsys.readouterr().out)
    builtin = [n for n in treecredit.estimators("token")
               if treecredit.get_estimator(n).fn.__module__.startswith("treecredit.methods")]
    skipped = [n for n in builtin if not runs_on_demo_group(treecredit.get_estimator(n))]
    assert skipped == ["vine"] and set(shown) >= set(builtin) - set(skipped) and "vine" not in shown
    parser = build_parser()
    subparsers = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    help_text = subparsers.choices["demo"].format_help().replace("\n", " ")
    assert re.search(r"all but\s+vine", help_text)
