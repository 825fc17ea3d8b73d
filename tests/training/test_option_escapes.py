"""An option text with backslash escapes that a shell or a YAML/TOML file kept as typed (``--task-option
delimiter=\\n`` is a backslash and n, not a line break) is warned about before any work, with the JSON form the
flags read (trial38 4: before, nothing was said until a later "the trees did not branch" warning)."""

import argparse

from treecredit.cli import main
from treecredit.training.train_notes import escape_notes


def flags(**options) -> argparse.Namespace:
    return argparse.Namespace(**options)


def test_a_shell_escape_in_a_key_value_flag_is_warned_with_the_json_form():
    said = escape_notes(flags(task_options=["prompt_column=question", "delimiter=\\n"]))
    assert said == ["treecredit train: warning: --task-option delimiter=\\n gives delimiter the text '\\\\n' "
                    "(backslashes as typed: a shell passes them on), not a line break ('\\n'). Fix: write the value as "
                    "JSON in double quotes, which --task-option reads: --task-option 'delimiter=\"\\n\"' (if the "
                    "backslash is meant, ignore this)"]
    said = escape_notes(flags(sampler_options=["marker=a\\tb"], env_options=["label=x"]))
    assert len(said) == 1 and "--sampler-option 'marker=\"a\\tb\"'" in said[0]


def test_json_values_and_texts_without_escapes_are_not_warned():
    assert escape_notes(flags(task_options=['delimiter="\\n"', "delimiter2=abc", 'end="\\\\n"', "n=3"])) == []


def test_a_config_file_keeping_backslashes_is_warned_and_double_quotes_are_not(tmp_path):
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text('task_options: {delimiter: \\n, end: \'\\t\', template: "Q: {prompt}\\\\n", '
                         'system_prompt: "a\\n"}\n')
    said = escape_notes(flags(config=str(yaml_file)))
    assert [s.split(" to the text")[0] for s in said] == [
        "treecredit train: warning: the --config file sets task_options delimiter",
        "treecredit train: warning: the --config file sets task_options end"]
    assert 'Fix: write delimiter: "\\n" in the file, in double quotes' in said[0]
    assert escape_notes(flags(config=str(yaml_file), task_options=["delimiter=x", "end=y"])) == []  # flags replace
    toml_file = tmp_path / "c.toml"
    toml_file.write_text("[task_options]\ndelimiter = '\\n'\ntemplate = \"Q: {prompt}\\\\n\"\n")
    said = escape_notes(flags(config=str(toml_file)))
    assert len(said) == 1 and "sets task_options delimiter to the text '\\\\n' (TOML keeps backslashes" in said[0]
    json_file = tmp_path / "c.json"
    json_file.write_text('{"task_options": {"delimiter": "\\\\n"}}')  # a backslash in JSON is written on purpose
    assert escape_notes(flags(config=str(json_file))) == []


def test_train_warns_before_its_checks(tmp_path, capsys):
    assert main(["train", "--task-option", "delimiter=\\n", "--group-size", "1", "--out", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("treecredit train: warning: --task-option delimiter=\\n gives delimiter the text")
    assert "group_size: is 1" in err[-1]


def test_a_delimiter_in_no_worked_solution_is_noted_before_any_work(tmp_path):
    import json

    from treecredit.training.config import TrainConfig
    from treecredit.training.preflight import check_run

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"question": f"{i}+{i}=", "answer": str(2 * i),
                                        "solution": f"{i}+{i}=\n{2 * i}" if i == 3 else f"{i}+{i}={2 * i}"}) + "\n"
                            for i in range(20)))

    def said(delimiter):
        options = {"prompt_column": "question", "solution_column": "solution", "held_out": 2}
        config = TrainConfig(dataset=str(data), task_options={**options, **delimiter}, out=str(tmp_path / "run"),
                             steps=1, n_layer=1, n_head=2, n_embd=16, warm_start_steps=0, eval_problems=2)
        lines: list[str] = []
        check_run(config, log=lines.append)
        return [line for line in lines if "worked solutions" in line]

    assert said({"delimiter": "\\n"}) == [
        "note: --task-option delimiter='\\\\n' occurs in none of the 18 worked solutions (column 'solution'), so a "
        "warm start on them teaches no step ends: a tree forks at none and a step estimator sees each response as one "
        "step (a shell passes a backslash as typed: for a line break write --task-option 'delimiter=\"\\n\"')"]
    assert said({"delimiter": "="}) == [] and said({}) == []  # found in a solution; the default, not given


def test_a_meant_backslash_is_not_warned_and_the_escapes_it_was_made_for_still_are(tmp_path):
    """A backslash the user meant: a regular expression (``\\bfoo\\b``, whose ``\\b`` JSON reads as a backspace;
    ``\\d+``), a Windows path (``C:\\new\\table``: ``\\n`` and ``\\t`` of folder names), an option naming a path or a
    regex. Until 2026-12-03 the first and the paths were warned as meaning a backspace, line break or tab."""
    meant = ["step_regex=\\n", "marker=\\bfoo\\b", "marker=^Step \\d+:\\n", "template=\\\\n", "end=\\.\\n",
             "data=C:\\new\\table", "cache_dir=data\\new", "held_out_path=runs\\tmp", "share=\\\\server\\new"]
    for pair in meant:
        assert escape_notes(flags(task_options=[pair])) == [], pair
    for pair, meant_text in [("delimiter=\\n", "a line break ('\\n')"), ("marker=a\\tb", "'a\\tb'"),
                             ("template=Q: {prompt}\\nA:", "'Q: {prompt}\\nA:'"), ("end=\\r\\n", "'\\r\\n'")]:
        said = escape_notes(flags(task_options=[pair]))
        assert len(said) == 1 and f"not {meant_text}. Fix:" in said[0], (pair, said)
    yaml_file = tmp_path / "c.yaml"
    yaml_file.write_text("task_options: {marker: \\bStep\\b, data: C:\\new\\table, delimiter: \\n}\n")
    said = escape_notes(flags(config=str(yaml_file)))
    assert len(said) == 1 and "sets task_options delimiter" in said[0], said


def test_a_one_letter_label_and_colon_is_not_a_windows_drive_and_key_words_match_whole():
    """review41 5: ``template=Q:\\n{prompt}\\nA:``, ``A:\\n`` and ``x:\\tb`` were read as Windows drives (a letter, a
    colon, a backslash) and ``profile`` as a key naming a file, so their escapes went unwarned."""
    from treecredit.training.config_values import unmeant_escapes

    for key, text, decoded in [("template", "Q:\\n{prompt}\\nA:", "Q:\n{prompt}\nA:"), ("template", "A:\\n", "A:\n"),
                               ("prefix", "x:\\tb", "x:\tb"), ("marker", "A:\\n\\n", "A:\n\n"),
                               ("template", "Q:\\n{question} A:", "Q:\n{question} A:"), ("profile", "a\\nb", "a\nb"),
                               ("fileset_marker", "a\\nb", "a\nb")]:
        assert unmeant_escapes(key, text) == decoded, (key, text)
    for key, text in [("marker", "C:\\new\\table"), ("data", "d:\\runs\\new\\"), ("held_out.path", "C:\\new"),
                      ("cache_dir", "x:\\tb"), ("step_regex", "A:\\n"), ("filepath", "a\\nb"), ("data_files", "a\\nb"),
                      ("logDir", "runs\\new")]:
        assert unmeant_escapes(key, text) is None, (key, text)
    said = escape_notes(flags(task_options=["template=Q:\\n{prompt}\\nA:"]))
    assert len(said) == 1 and "--task-option 'template=\"Q:\\n{prompt}\\nA:\"'" in said[0], said
