"""Several reward specs written as one text apart by commas (``--reward math,exact``, ``reward: math,
my_module:fn`` in a config file) are refused naming ``reward`` and showing the flags and the list meant; until
2026-12-03 the text was read as one reward name and refused as "unknown reward 'math,exact'" (or a module
'math, my_module' that does not import). A comma inside one spec's ``key=value`` options stays one spec."""

import pytest

from treecredit.rewards.load import comma_separated_specs, make_reward
from treecredit.training.config_file import load_config_file


@pytest.mark.parametrize("text, specs", [
    ("math,exact", ["math", "exact"]),
    ("math, my_module:fn@0.5", ["math", "my_module:fn@0.5"]),
    ("numeric:tolerance=0.01,math", ["numeric:tolerance=0.01", "math"]),
    ("numeric:tolerance=0.01@2, code:timeout=5,workers=2", ["numeric:tolerance=0.01@2", "code:timeout=5,workers=2"]),
])
def test_several_specs_in_one_text_are_refused_with_the_flags_and_the_lists(text, specs):
    assert comma_separated_specs(text) == specs
    with pytest.raises(ValueError) as caught:
        make_reward(text)
    message = str(caught.value)
    assert message.startswith(f"reward: {text!r} holds 2 rewards apart by commas, but one spec is one reward"), message
    flags = " ".join(f"--reward {spec}" for spec in specs)
    toml = "[" + ", ".join(f'"{spec}"' for spec in specs) + "]"
    yaml = toml if any("," in spec for spec in specs) else f"[{', '.join(specs)}]"  # a comma inside: quoted
    assert f"Fix: give each as its own flag ({flags}), or as a list in a config file (YAML reward: " \
           f"{yaml}; TOML reward = {toml}) or in Python (reward={specs!r})." in message, message


def test_a_comma_between_one_specs_options_is_one_spec():
    assert comma_separated_specs("numeric:tolerance=0.01,relative=0.1") is None
    name, _, weight = make_reward("numeric:tolerance=0.01,relative=0.1@0.5")
    assert (name, weight) == ("numeric", 0.5)
    assert comma_separated_specs("math") is None and comma_separated_specs("math,") is None


@pytest.mark.parametrize("suffix, text, written", [
    (".yaml", "reward: math, my_module:fn\n", "write reward: [math, 'my_module:fn'] in the file (a list)"),
    (".toml", 'reward = "math, my_module:fn"\n', 'write reward = ["math", "my_module:fn"] in the file (a list)'),
    (".json", '{"reward": "math,my_module:fn"}', 'write "reward": ["math", "my_module:fn"] in the file (a list)'),
])
def test_a_config_file_gets_the_list_in_its_own_format(tmp_path, suffix, text, written):
    path = tmp_path / f"c{suffix}"
    path.write_text(text)
    with pytest.raises(ValueError) as caught:
        load_config_file(path)
    message = str(caught.value)
    assert message.startswith(f"config: {str(path)!r} sets reward: the text "), message
    assert "2 items apart by commas in one text" in message and written in message, message
    assert "or give each as its own flag: --reward math --reward my_module:fn." in message, message


def test_the_list_fields_fix_example_is_the_fields_own(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("reward = 5\n")
    with pytest.raises(ValueError, match=r'Fix: write reward = \["math", "my_rewards:fn@0.5"\] in the file \(one '
                                         r'reward may be written as its text: reward = "math"\)'):
        load_config_file(path)
