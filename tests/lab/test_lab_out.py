"""`treecredit lab` never replaces an earlier report silently, checks --out before the sweeps, and says what a
run left out instead of leaving sections empty."""

import pytest

from treecredit.cli import main


def test_lab_refuses_an_existing_report_and_a_file_as_out(tmp_path, capsys):
    (tmp_path / "lab").mkdir()
    (tmp_path / "lab" / "report.md").write_text("earlier report")
    assert main(["lab", "--out", str(tmp_path / "lab"), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "--out: " in err and "already holds a lab report" in err and "--overwrite" in err
    assert (tmp_path / "lab" / "report.md").read_text() == "earlier report"
    (tmp_path / "file").write_text("")
    assert main(["lab", "--out", str(tmp_path / "file"), "--no-progress"]) == 2
    assert "is a file" in capsys.readouterr().err
    assert main(["lab", "--out", str(tmp_path / "file" / "sub"), "--no-progress"]) == 2  # below a file: before work
    assert "is a file, so" in capsys.readouterr().err


def test_claims_of_sweeps_left_out_say_not_run_instead_of_empty_tables():
    from treecredit.lab.report import claims_markdown

    text = claims_markdown({"bias": [], "variance": [], "reduction": [], "budget": []})
    assert text.count("Not run: this claim needs the `") == 4
    assert "`conditions` sweep" in text and "`budget` sweep" in text
    assert "|---|" not in text  # no table without rows


def test_summary_and_headline_of_sweeps_left_out_say_not_run(tmp_path, capsys):
    assert main(["lab", "--sweeps", "turns", "--size", "tiny", "--out", str(tmp_path / "lab"), "--no-progress"]) == 0
    assert "Not run: the summary draws on the `headline`" in capsys.readouterr().out
    text = (tmp_path / "lab" / "report.md").read_text()
    summary = text.split("## Summary")[1].split("**What is compared")[0]
    assert "Not run: the summary draws on the `headline`, `branching`, `conditions`, `map` sweeps" in summary
    headline = text.split("## Headline: token MDP")[1].split("##")[0]
    assert "Not run: this section needs the `headline` sweep" in headline


def test_a_tiny_map_runs_and_says_that_its_debiased_cosine_can_pass_1(tmp_path, capsys):
    """A tiny map once stopped on a shape where only the oracle had a figure; its cos(E ĝ, ∇J) of 1.03 is a
    debiased estimate, which the report explains."""
    import re

    assert main(["lab", "--sweeps", "map", "--size", "tiny", "--out", str(tmp_path / "lab"), "--no-progress"]) == 0
    out = capsys.readouterr().out
    (line,) = [x for x in out.splitlines() if "of the best adaptive arm" in x]
    top = float(re.search(r"best adaptive arm [\d.]+–([\d.]+)", line).group(1))
    note = "(a debiased estimate: ‖E ĝ‖² is estimated as ‖mean ĝ‖² − tr Cov ĝ / k, so noise can put it above 1)"
    assert (note in line) == (top > 1)  # at seed 0: 1.03
    text = (tmp_path / "lab" / "report.md").read_text()
    assert "it is a debiased estimate" in text and "so noise can put it above 1 (read 1.02 as 1" in text


def test_a_repeated_sweep_runs_once(tmp_path):
    import json

    assert main(["lab", "--sweeps", "turns", "turns", "--size", "tiny", "--out", str(tmp_path / "lab"),
                 "--no-progress"]) == 0
    saved = json.loads((tmp_path / "lab" / "results.json").read_text())
    assert saved["meta"]["sweeps"] == ["turns"]
    cells = [(r["estimator"], r.get("signature"), r.get("budget")) for r in saved["records"]]
    assert len(cells) == len(set(cells)) > 0


def test_lab_refuses_a_training_run_or_a_comparison_as_out_even_with_overwrite(tmp_path, capsys):
    import json

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "checkpoint.pt").write_bytes(b"x")
    for extra in ([], ["--overwrite"]):
        assert main(["lab", "--out", str(run), "--no-progress", *extra]) == 2
        err = capsys.readouterr().err
        assert f"--out: '{run}' holds a training run (config.json, checkpoint.pt)" in err
        assert f"Fix: pass another --out, e.g. {run}-lab" in err
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.pt", "config.json"]  # nothing written

    compared = tmp_path / "cmp"
    (compared / "runs").mkdir(parents=True)
    (compared / "report.md").write_text("comparison report")
    assert main(["lab", "--out", str(compared), "--no-progress", "--overwrite"]) == 2
    err = capsys.readouterr().err
    assert f"--out: '{compared}' holds a comparison" in err and "replace its report.md and results.json" in err
    assert (compared / "report.md").read_text() == "comparison report"
    finished = tmp_path / "cmp2"  # a comparison's results.json, its runs/ folder gone
    finished.mkdir()
    (finished / "results.json").write_text(json.dumps({"settings": {}, "arms": []}))
    assert main(["lab", "--out", str(finished), "--no-progress", "--overwrite"]) == 2
    assert "holds a comparison" in capsys.readouterr().err


def test_lab_overwrite_still_replaces_its_own_report(tmp_path, monkeypatch):
    """Only a run's or a comparison's folder is refused: a lab report (its results.json has meta, not settings)
    is replaced under --overwrite as before (the check passes; the sweeps are not run here)."""
    import argparse
    import json

    from treecredit.lab import command

    lab = tmp_path / "lab"
    lab.mkdir()
    (lab / "report.md").write_text("earlier")
    (lab / "results.json").write_text(json.dumps({"meta": {}, "records": []}))
    command.check_not_a_run(lab)  # no error
    monkeypatch.setattr("treecredit.lab.sweeps.run_sweeps", lambda *a, **k: (_ for _ in ()).throw(RuntimeError("ran")))
    args = argparse.Namespace(out=str(lab), overwrite=True, mc_rollouts=8, seed=0, size="tiny", full=False,
                              sweeps=["turns"], no_progress=True)
    with pytest.raises(RuntimeError, match="^ran$"):  # got past the --out checks to the sweeps
        command.run(args)


def test_lab_refuses_a_comparisons_runs_folder_even_with_overwrite(tmp_path, capsys):
    # was: accepted; report.md, results.*, claims.json were written among the comparison's run folders
    cmp = tmp_path / "cmp"
    for name in ("grpo-seed0", "tempo-seed0"):
        (cmp / "runs" / name).mkdir(parents=True)
        (cmp / "runs" / name / "config.json").write_text("{}")
    (cmp / "results.json").write_text('{"settings": {}}')
    assert main(["lab", "--out", str(cmp / "runs"), "--overwrite", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert (f"--out: {str(cmp / 'runs')!r} holds training runs (a comparison's runs/ folder) (grpo-seed0, "
            f"tempo-seed0)") in err and f"e.g. {cmp}-lab" in err, err
    assert sorted(p.name for p in (cmp / "runs").iterdir()) == ["grpo-seed0", "tempo-seed0"]
    (tmp_path / "mine" / "run1").mkdir(parents=True)  # any folder of runs, not only a comparison's
    (tmp_path / "mine" / "run1" / "metrics.jsonl").write_text("")
    assert main(["lab", "--out", str(tmp_path / "mine"), "--overwrite", "--no-progress"]) == 2
    assert "holds training runs (run1)" in capsys.readouterr().err
