from treecredit.cli import main


def test_demo_runs(capsys):
    assert main(["demo", "--estimators", "grpo"]) == 0
    assert "grpo" in capsys.readouterr().out
