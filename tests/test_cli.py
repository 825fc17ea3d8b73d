from treecredit.cli import main


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
    import pytest

    from treecredit.cli import COMMANDS

    for name in [None, *COMMANDS]:
        with pytest.raises(SystemExit) as stop:
            main([name, "--help"] if name else ["--help"])
        assert stop.value.code == 0, name
        assert "usage:" in capsys.readouterr().out
