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
