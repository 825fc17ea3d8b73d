import argparse

from treecredit.cli import build_parser, main


def test_demo_runs(capsys):
    assert main(["demo", "--estimators", "grpo"]) == 0
    assert "grpo" in capsys.readouterr().out


def test_output_into_a_closed_pipe_is_not_a_traceback():
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": os.path.join(os.path.dirname(__file__), "..", "src")}
    proc = subprocess.run(f"{sys.executable} -m treecredit.cli demo | head -c 10", shell=True, env=env,
                          capture_output=True, text=True, timeout=120)
    assert "Traceback" not in proc.stderr and "BrokenPipeError" not in proc.stderr


def test_every_subcommands_help_prints(capsys):
    # argparse formats help texts with %: a literal % in a field's doc once crashed `train --help`
    from treecredit.cli import COMMANDS

    for name in [None, *COMMANDS]:
        assert main([name, "--help"] if name else ["--help"]) == 0, name
        out = capsys.readouterr().out
        assert "usage:" in out
        # argparse's "(default: None)" after a help that says what leaving the option out does
        assert "(default: None)" not in " ".join(out.split()), name


def test_no_option_help_states_its_default_twice():
    import argparse

    from treecredit.cli import build_parser

    parser = build_parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        formatter = sub._get_formatter()
        for action in sub._actions:
            text = formatter._get_help_string(action) or ""
            assert text.count("(default:") <= 1 and "(default: None)" not in text, (name, action.dest, text)
            assert not text.endswith("(default: %(default)s)") or action.default is not None, (name, action.dest)
    compare = subparsers.choices["compare"]
    estimators = next(a for a in compare._actions if a.dest == "estimators")
    assert compare._get_formatter()._get_help_string(estimators).endswith("grpo, rtmc, gigpo)")


def test_the_command_shows_treecredits_warnings_without_file_paths(tmp_path):
    import os
    import subprocess
    import sys

    src = os.path.join(os.path.dirname(__file__), "..", "src")
    env = {**os.environ, "PYTHONPATH": src}
    # a tree run whose random policy never writes the delimiter: the 'trees did not branch' warning
    command = [sys.executable, "-m", "treecredit.cli", "train", "--estimator", "treerl", "--sampler", "tree",
               "--steps", "1", "--warm-start-steps", "0", "--n-layer", "1", "--n-embd", "16", "--n-head", "2",
               "--eval-problems", "2", "--prompts-per-step", "2", "--group-size", "4", "--max-new-tokens", "4",
               "--no-progress", "--no-tensorboard", "--out", str(tmp_path / "run")]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if "did not branch" in line]
    assert lines and lines[0].startswith("warning: --sampler tree: "), proc.stderr
    assert ".py:" not in proc.stderr and "UserWarning" not in proc.stderr


def test_plain_warnings_are_the_commands_alone(monkeypatch):
    import os
    import subprocess
    import sys
    import warnings

    import treecredit.cli as cli
    from treecredit.warnings_display import show_warnings_plainly, shown_plainly

    env = {**os.environ, "PYTHONPATH": os.path.join(os.path.dirname(__file__), "..", "src")}
    probe = "import warnings, treecredit, treecredit.training.loop; print(warnings.formatwarning.__module__)"
    out = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "warnings"  # importing the library changes nothing
    monkeypatch.setattr(warnings, "formatwarning", warnings.formatwarning)
    show_warnings_plainly()
    assert shown_plainly() and cli.show_warnings_plainly is show_warnings_plainly  # the command installs this one
    ours = os.path.join(os.path.dirname(cli.__file__), "training", "loop.py")
    assert warnings.formatwarning("trees did not branch", UserWarning, ours, 58) == "warning: trees did not branch\n"
    other = warnings.formatwarning("deprecated", FutureWarning, "/x/site-packages/torch/nn.py", 3, "")
    assert other.startswith("/x/site-packages/torch/nn.py:3: FutureWarning: deprecated")


def test_training_modules_do_not_import_the_command():
    """The library's training code uses the warnings display module, not the CLI dispatcher."""
    import pathlib

    training = pathlib.Path(__file__).parent.parent / "src" / "treecredit" / "training"
    assert training.is_dir()
    importers = [p.name for p in training.glob("*.py") if "treecredit.cli" in p.read_text()]
    assert importers == []


def test_a_misspelt_flag_names_the_subcommand_and_the_closest_flag(capsys):
    # argparse printed the top-level usage and "unrecognized arguments", naming neither the subcommand nor a fix
    assert main(["train", "--estimatr", "tempo"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("treecredit train: error: unknown flag --estimatr; did you mean --estimator?"), err
    assert "Fix: write --estimator tempo instead of --estimatr tempo" in err
    assert "usage: treecredit [-h]" not in err
    assert main(["compare", "--sed=3"]) == 2
    assert "treecredit compare: error: unknown flag --sed; did you mean --seeds? Fix: write --seeds=3" \
        in capsys.readouterr().err
    assert main(["train", "--xyzzy", "3"]) == 2
    assert "unknown flag --xyzzy. Fix: check its spelling; `treecredit train --help`" in capsys.readouterr().err
    assert main(["demo", "stray"]) == 2
    assert "treecredit demo: error: unexpected argument 'stray'" in capsys.readouterr().err


def test_the_first_words_of_a_flag_suggest_the_flag_or_the_flags_they_begin(capsys):
    # was (trial 26): --lora 8 gave "unknown flag --lora" with no "did you mean --lora-rank?"
    assert main(["train", "--lora", "8"]) == 2
    assert "treecredit train: error: unknown flag --lora; did you mean --lora-rank? Fix: write --lora-rank 8 instead " \
        "of --lora 8" in capsys.readouterr().err
    assert main(["compare", "--eval=8"]) == 2
    err = capsys.readouterr().err
    assert "unknown flag --eval; did you mean one of --eval-every, --eval-mode, --eval-problems, --eval-time-share? " \
        "Fix: write the one you mean instead of --eval=8" in err, err


def test_a_prefix_of_a_flag_is_not_taken_for_the_flag(capsys):
    from treecredit.cli import build_parser

    _, extras = build_parser().parse_known_args(["train", "--no-progres", "--estim", "tempo"])
    assert extras == ["--no-progres", "--estim", "tempo"]  # argparse's allow_abbrev would run them as the flags
    # '--estimator nope' stops the run before any work should the prefix ever be accepted again
    assert main(["train", "--no-progres", "--estimator", "nope"]) == 2
    assert "unknown flag --no-progres; did you mean --no-progress? Fix: write --no-progress" \
        in capsys.readouterr().err


def test_flags_a_user_reaches_for_get_the_flag_meant_not_a_wrong_one(capsys):
    # difflib took --arms for --task, --arm for --lr and compare's --steps for --seeds (3 seeds if followed)
    cases = {
        ("compare", "--arms", "grpo,tempo"): "did you mean --estimators? (compare's arms are one comma-separated "
                                             "--estimators list (grpo,treerl@tree:fixed)) Fix: write --estimators "
                                             "grpo,tempo instead of --arms grpo,tempo",
        ("compare", "--arm", "grpo"): "Fix: write --estimators grpo instead of --arm grpo",
        ("compare", "--estimator", "grpo"): "did you mean --estimators?",
        ("compare", "--token-budget=5"): "Fix: write --budget=5 instead of --token-budget=5",
        ("train", "--budget", "9"): "Fix: write --token-budget 9 instead of --budget 9",
    }
    for argv, expected in cases.items():
        assert main([*argv, "--xyzzy"]) == 2
        assert expected in capsys.readouterr().err, argv
    assert main(["compare", "--steps", "3"]) == 2
    err = capsys.readouterr().err
    assert "--seeds" not in err and "Fix: drop --steps 3 and set the length of every run with --budget" in err
    assert main(["train", "--arms", "grpo"]) == 2
    err = capsys.readouterr().err
    assert "--task" not in err and "arms belong to `treecredit compare --estimators" in err


def test_a_weak_match_gives_the_help_not_a_wrong_flag(capsys):
    from treecredit.cli import unknown_arguments_error

    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    compare = subparsers.choices["compare"]
    assert "did you mean --seeds?" in unknown_arguments_error("compare", compare, ["--sed", "3"])  # 0.75
    for flag in ("--stps", "--out-dir", "--arrms"):  # steps→seeds 0.6, out-dir→out 0.6
        err = unknown_arguments_error("compare", compare, [flag, "3"])
        assert "did you mean" not in err and "`treecredit compare --help` lists the flags" in err, err


def test_a_misspelt_subcommand_gets_the_closest_one(capsys):
    assert main(["trian", "--steps", "1"]) == 2
    assert "treecredit: error: unknown command 'trian'; did you mean train? Fix: write treecredit train" \
        in capsys.readouterr().err
    assert main(["xyz"]) == 2
    assert "unknown command 'xyz'. Fix: use one of demo, train, compare, export, lab" in capsys.readouterr().err


def test_version_flag(capsys):
    import treecredit
    from treecredit.cli import main

    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"treecredit {treecredit.__version__}"


def test_main_returns_argparses_statuses_instead_of_raising_system_exit(capsys):
    """Trial 34 (f9): main() called in-process raised SystemExit for the help, the version and usage errors (its
    caller's process ended); it returns the status, with argparse's output printed."""
    from treecredit.cli import main

    for argv, status, stream, text in (
            (["--help"], 0, "out", "usage: treecredit"), (["--version"], 0, "out", "treecredit "),
            ([], 2, "err", "the following arguments are required: COMMAND"),
            (["train", "--steps", "abc"], 2, "err", "argument --steps: invalid int value: 'abc'"),
            (["demo", "-h"], 0, "out", "usage: treecredit demo")):
        assert main(argv) == status, argv
        assert text in getattr(capsys.readouterr(), stream), argv
