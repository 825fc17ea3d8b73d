"""A number field that a config file holds as text (PyYAML reads ``lr: 1e-4`` as '1e-4') is refused naming the
file and the key, with a spelling the file's format reads as a number."""

import re

import pytest
import yaml

from treecredit.training.config_file import load_config_file


@pytest.mark.parametrize("key, text, number", [("lr", "1e-4", 1e-4), ("lr", "3E6", 3e6), ("kl_coef", "2e+2", 200.0),
                                               ("lr", "1.0e4", 1e4)])
def test_yaml_exponent_without_dot_is_refused_with_a_spelling_yaml_reads(tmp_path, key, text, number):
    path = tmp_path / "run.yaml"
    path.write_text(f"{key}: {text}\nsteps: 3\n")
    with pytest.raises(ValueError, match=rf"^config: '.*run\.yaml' sets {key}: '{re.escape(text)}', which is text, "
                                         rf"not a number .*PyYAML.*Fix: write {key}: \S+ in the file\.$") as info:
        load_config_file(path)
    suggested = re.search(rf"Fix: write ({key}: \S+) in the file", str(info.value)).group(1)
    assert yaml.safe_load(suggested) == {key: pytest.approx(number)}  # the fix reads as the number meant
    path.write_text(f"{suggested}\nsteps: 3\n")
    assert load_config_file(path) == {key: pytest.approx(number), "steps": 3}


def test_a_quoted_number_in_json_names_the_key(tmp_path):
    path = tmp_path / "run.json"
    path.write_text('{"lr": "0.001"}')
    with pytest.raises(ValueError, match=r"^config: '.*run\.json' sets lr: '0\.001', which is text, not a number\. "
                                         r"Fix: write lr: 0\.001 in the file \(without quotes\)\.$"):
        load_config_file(path)


def test_text_that_is_no_number_is_left_to_the_field_check(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("lr: fast\nmodel: '1e-4'\n")  # model is text: a number-like text there is fine
    assert load_config_file(path) == {"lr": "fast", "model": "1e-4"}


@pytest.mark.parametrize("text, digits", [("1e3", "1000"), ("'8'", "8"), ("2E+2", "200")])
def test_an_integer_field_held_as_text_gets_its_digits(tmp_path, text, digits):
    path = tmp_path / "run.yaml"
    path.write_text(f"steps: {text}\n")
    with pytest.raises(ValueError, match=rf"^config: '.*run\.yaml' sets steps: .*which is text, not a number.*"
                                         rf"Fix: write steps: {digits} in the file"):
        load_config_file(path)
    path.write_text(f"steps: {digits}\n")
    assert load_config_file(path) == {"steps": int(digits)}
    path.write_text("steps: 2.5e0\n")  # not a whole number: the field's own check names it
    assert load_config_file(path) == {"steps": "2.5e0"}
