"""The backslash-escape warning reads each backslash on its own (config_escapes.backslash_parts): a LaTeX command
(``\\boxed``, ``\\theta``, ``\\nabla``, ``\\times``, ``\\rightarrow``) is LaTeX, neither an escape nor a meant
backslash; ``\\n``, ``\\t``, ``\\r`` otherwise are plausible escapes; anything else (``\\d``, ``\\b``, ``\\.``,
``\\\\``) is meant and silences the text. Until 2026-12-04: a template's ``\\n`` beside ``\\boxed{}`` was not warned
(any other backslash counted as meant), ``\\theta`` alone was warned as a tab, and ``C:\\temp`` (one folder on a
drive) was warned under any option name that names no path."""

import argparse
import json
import shlex

import pytest

from treecredit.training.config_escapes import arm_escape_warnings, unmeant_escapes
from treecredit.training.train_notes import escape_notes

BOXED = "Q: {prompt}\\nPut the final answer in \\boxed{}."


@pytest.mark.parametrize("text, decoded", [
    (BOXED, "Q: {prompt}\nPut the final answer in \\boxed{}."),
    ("Let \\theta be\\n", "Let \\theta be\n"),
    ("\\nabla f\\n\\nAnswer:", "\\nabla f\n\nAnswer:"),
    ("a \\times b = {prompt}\\nA:", "a \\times b = {prompt}\nA:"),
    ("\\frac{1}{2}\\tx", "\\frac{1}{2}\tx"),
    ("Q:\\nStep", "Q:\nStep"),  # n and a capitalised word: an escape, no LaTeX command
    ("A:\\nStep", "A:\nStep"),  # no one-folder drive path: a capital after the escape
    ("x:\\tb", "x:\tb"),  # two characters: no drive folder
])
def test_an_escape_beside_latex_is_warned(text, decoded):
    assert unmeant_escapes("template", text) == decoded


@pytest.mark.parametrize("key, text", [
    ("template", "Let \\theta be"), ("template", "\\nabla f"), ("template", "a \\times b"),
    ("template", "a \\rightarrow b"), ("template", "x \\neq y, \\text{so} \\tau"), ("template", "\\boxed{}"),
    ("marker", "C:\\temp"), ("data", "C:\\temp"), ("data", "D:\\runs\\"), ("marker", "c:\\tmp"),
    ("marker", "\\bfoo\\b\\n"), ("marker", "^Step \\d+:\\n"), ("template", "\\boxed{}\\n\\d"),
    ("end", "\\\\n"), ("end", "\\.\\n"), ("step_regex", "\\boxed\\n"),
])
def test_latex_alone_a_drive_folder_and_meant_backslashes_are_not_warned(key, text):
    assert unmeant_escapes(key, text) is None


def test_the_fix_for_a_template_with_latex_doubles_its_backslashes_and_reads_back():
    said = escape_notes(argparse.Namespace(task_options=[f"template={BOXED}"]))
    assert len(said) == 1, said
    fix = said[0].split("reads: --task-option ")[1].split(" (if the backslash")[0]
    key, _, value = shlex.split(fix)[0].partition("=")
    assert key == "template" and json.loads(value) == "Q: {prompt}\nPut the final answer in \\boxed{}."


def test_an_arms_own_option_texts_are_checked_as_the_flags_are():
    said = arm_escape_warnings(f"tempo@tree[task.template={BOXED},scale=none]")
    assert len(said) == 1 and said[0].startswith(f"arm 'tempo@tree[task.template={BOXED},scale=none]' gives "
                                                 "task.template the text"), said
    fixed = shlex.split(said[0].split("the arm ")[1].split(" in --estimators")[0])[0]
    from treecredit.training.arms import parse_arm

    assert parse_arm(fixed).options["task.template"] == "Q: {prompt}\nPut the final answer in \\boxed{}."
    assert len(arm_escape_warnings("tempo[sampler.marker=a\\tb]@tree")) == 1  # options before the sampler
    for quiet in ("tempo", "tempo[task.template=\"Q:\\n\"]", "tempo[task.step_regex=\\n]", "tempo[scale=none]",
                  "tempo[task.marker=\\bfoo\\b]", "tempo[", "tempo[x]"):
        assert arm_escape_warnings(quiet) == [], quiet
