"""``--env-option KEY=VALUE`` for an option whose default is a str: the text as typed (``label=null`` is the text
'null', as ``label=abc`` is 'abc'); ``null`` is None only where the option's annotation allows None."""

import json

import pytest

from treecredit.cli import build_parser
from treecredit.envs.gridworld import GridWorld
from treecredit.training.train_cli import config_from_args


class Labelled(GridWorld):
    """A grid world with text options: one that takes only text, one that may be None, and an int that may be."""

    def __init__(self, *, label="x", note: "str | None" = "y", cap: "int | None" = 3, **common) -> None:
        super().__init__(**common)
        self.label, self.note, self.cap = label, note, cap


ENV = f"{__name__}:Labelled"


def _config(tmp_path, *options, config_file=None):
    words = ["train", "--env", ENV, "--estimator", "rtmc", "--group-size", "2", "--out", str(tmp_path / "run")]
    words += ["--config", str(config_file)] if config_file else []
    args = build_parser().parse_args(words + [w for o in options for w in ("--env-option", o)])
    return config_from_args(args)


@pytest.mark.parametrize("typed,label", [("label=null", "null"), ("label=1.50", "1.50"), ("label=true", "true"),
                                         ('label="a b"', "a b"), ("label=abc", "abc")])
def test_a_text_option_gets_the_text_as_typed(tmp_path, typed, label):
    # was: label=null was read as JSON null and refused (not a str), label=1.50 became '1.5'
    config = _config(tmp_path, typed)
    assert config.env_options == {"label": label}
    from treecredit.envs import make_env

    assert make_env(ENV, **config.env_options).label == label


def test_null_is_none_where_the_annotation_allows_it(tmp_path):
    config = _config(tmp_path, "note=null", "cap=null", "size=5")
    assert config.env_options == {"note": None, "cap": None, "size": 5}


def test_a_config_files_null_stays_none_and_is_refused_for_a_text_option(tmp_path):
    """A JSON file says null on purpose (it could say "null"): only a flag's bare text is taken as typed."""
    config_file = tmp_path / "c.json"
    config_file.write_text(json.dumps({"env_options": {"label": None}}))
    with pytest.raises(ValueError, match=r"label: is None \(NoneType\), not a str"):
        _config(tmp_path, config_file=config_file)


@pytest.mark.parametrize("typed,value", [("turn_prefix=null", "null"), ("marker=5", "5"), ("turn_prefix=1.50", "1.50"),
                                         ('marker="; "', "; ")])
def test_an_agent_runs_text_sampler_options_get_the_text_as_typed(tmp_path, typed, value):
    """turn_prefix=null was read as JSON null and refused, where --env-option label=null is the text 'null'."""
    from treecredit.agents.options import split_sampler_options

    words = ["train", "--env", "gridworld", "--estimator", "rtmc", "--out", str(tmp_path / "run"),
             "--sampler-option", typed]
    config = config_from_args(build_parser().parse_args(words))
    key = typed.split("=")[0]
    assert config.sampler_options == {key: value}
    assert split_sampler_options(config.sampler_options)[0][key] == value
