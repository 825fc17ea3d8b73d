"""`treecredit lab` never replaces an earlier report silently, and checks --out before the sweeps."""

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


def test_claims_of_sweeps_left_out_say_not_run_instead_of_empty_tables():
    from treecredit.lab.report import claims_markdown

    text = claims_markdown({"bias": [], "variance": [], "reduction": [], "budget": []})
    assert text.count("Not run: this claim needs the `") == 4
    assert "`conditions` sweep" in text and "`budget` sweep" in text
    assert "|---|" not in text  # no table without rows
