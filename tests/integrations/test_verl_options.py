"""The verl shell's options: text-step options bound with make_adv_estimator, errors that name
``algorithm.treecredit_options.NAME``, step options an estimator cannot use, and a tokenizer that does not
load. (``vine``, which needs Monte Carlo values verl does not produce, is refused in tests/test_mc_values_hosts.py.)"""

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).parent))

from test_verl import _Digits, core_advantages, fake_verl_batch  # noqa: E402

import treecredit  # noqa: E402
from treecredit.integrations import verl as tc_verl  # noqa: E402


@pytest.mark.parametrize("where", ["bound", "config", "both"])
def test_step_pattern_and_a_tokenizer_object_can_be_bound_or_configured(where):
    batch = fake_verl_batch()
    text = {"step_pattern": "|", "tokenizer": _Digits()}
    bound = {"bound": text, "config": {}, "both": {"tokenizer": text["tokenizer"]}}[where]
    configured = {"bound": {}, "config": text, "both": {"step_pattern": "|"}}[where]
    adv_fn = tc_verl.make_adv_estimator("treerpo", scale="std", **bound)
    advantages = adv_fn(**batch, config={"treecredit_options": configured})[0]
    ends = treecredit.step_ends_from_text(batch["responses"], _Digits(), "|", response_mask=batch["response_mask"])
    assert ends.sum() > 0
    torch.testing.assert_close(advantages, core_advantages("treerpo", batch, scale="std", step_ends=ends))


@pytest.mark.parametrize("options,match", [
    ({"scale": "abc", "step_tokens": 2}, r"^algorithm\.treecredit_options\.scale: is 'abc', not one of"),
    ({"sclae": "std", "step_tokens": 2}, r"^algorithm\.treecredit_options\.sclae: .*\(did you mean 'scale'\?\)"),
    ({"tau": -1.0, "step_tokens": 2}, r"^algorithm\.treecredit_options\.tau: "),
    ({"delimiter": "[4]"}, r"^algorithm\.treecredit_options\.delimiter: is the text '\[4\]'"),
])
def test_option_errors_name_the_key_in_verls_config(options, match):
    with pytest.raises(ValueError, match=match):
        tc_verl.make_adv_estimator("treerpo")(**fake_verl_batch(), config={"treecredit_options": options})


@pytest.mark.parametrize("estimator", ["grpo", "rloo"])
def test_step_options_for_an_estimator_without_steps_name_the_option_given(estimator):
    batch = fake_verl_batch()
    options = {"step_pattern": "|", "tokenizer": _Digits()}
    with pytest.raises(ValueError, match=rf"^algorithm\.treecredit_options\.step_pattern: gives step ends from the "
                                         rf"decoded text, but '{estimator}' takes no steps.*Fix: drop step_pattern "
                                         r"and tokenizer, or use an estimator that takes steps \(ibpo, "):
        tc_verl.make_adv_estimator(estimator)(**batch, config={"treecredit_options": options})
    del batch["responses"]  # verl's v1 trainer: refused as well, not dropped
    with pytest.raises(ValueError, match=r"^algorithm\.treecredit_options\.step_pattern: "):
        tc_verl.make_adv_estimator(estimator)(**batch, config={"treecredit_options": options})
    with pytest.raises(ValueError, match=rf"^step_pattern: gives step ends .* but '{estimator}' takes no steps"):
        tc_verl.make_adv_estimator(estimator, **options)


def test_a_tokenizer_that_does_not_load_is_refused_naming_the_option(tmp_path):
    pytest.importorskip("transformers")
    missing = str(tmp_path / "no" / "model")
    config = {"treecredit_options": {"step_pattern": "|", "tokenizer": missing}}
    with pytest.raises(ValueError, match=rf"^algorithm\.treecredit_options\.tokenizer: is '{missing}', which "
                                         r"transformers' AutoTokenizer could not load from a local folder or the local "
                                         r"Hugging Face cache, nothing being downloaded \(\w+: .*\)\. Fix: set it "
                                         r"to the local folder"):
        tc_verl.make_adv_estimator("tempo")(**fake_verl_batch(), config=config)


@pytest.mark.parametrize("delimiter,problem", [([-1], r"holds the negative id -1"), ("\n\n", r"is the text '\\n\\n'")])
def test_a_bad_delimiter_gets_the_fix_in_verls_terms(delimiter, problem):
    # was: "... step_ends=treecredit.step_ends_from_text(response_ids, tokenizer, '\n\n')", which verl never takes
    with pytest.raises(ValueError, match=rf"^delimiter: {problem}.*Fix: .*pass step_pattern='\\n\\n' with "
                                         r"tokenizer=<the tokenizer, or the model's local path> to make_adv_estimator"
                       ) as caught:
        tc_verl.make_adv_estimator("tempo", delimiter=delimiter)
    assert "step_ends" not in str(caught.value)
    with pytest.raises(ValueError, match=rf"^algorithm\.treecredit_options\.delimiter: {problem}.*Fix: .*set "
                                         r"\+algorithm\.treecredit_options\.step_pattern='\\n\\n' with "
                                         r"\+algorithm\.treecredit_options\.tokenizer=") as caught:
        config = {"treecredit_options": {"delimiter": delimiter}}
        tc_verl.make_adv_estimator("tempo")(**fake_verl_batch(), config=config)
    assert "step_ends" not in str(caught.value)


@pytest.mark.parametrize("name", ["step_ends", "tree_nodes"])
def test_per_batch_inputs_given_as_options_are_refused(name):
    # was: a broadcast error from the test batch ((2,2) against (4,6)), or, from verl's config, a raw numpy error
    value = torch.zeros(2, 2)
    with pytest.raises(ValueError, match=rf"^{name}: is given as an option, which would be the same for every "
                                         rf"batch.*Fix: .*data\.batch\['{name}'\]"):
        tc_verl.make_adv_estimator("tempo", **{name: value})
    with pytest.raises(ValueError, match=rf"^algorithm\.treecredit_options\.{name}: is given as an option"):
        tc_verl.make_adv_estimator("tempo")(**fake_verl_batch(), config={"treecredit_options": {name: [[0, 1]]}})
    with pytest.raises(ValueError, match=r"step_pattern='\\n\\n', tokenizer=tokenizer"):
        tc_verl.make_adv_estimator("tempo", step_ends=value)


@pytest.mark.parametrize("where", ["bound", "bound text"])
def test_rewards_outside_the_unit_interval_bound_in_python_get_the_python_fix(where):
    batch = fake_verl_batch(kl_coef=0.0)
    batch["token_level_rewards"] = batch["token_level_rewards"] * 3.0
    bound = {"step_tokens": 2} if where == "bound" else {"step_pattern": "|", "tokenizer": _Digits()}
    with pytest.raises(ValueError, match=r"^rewards: are outside \[0, 1\].*Fix: pass scale='std' or scale='none' to "
                                         r"make_adv_estimator, or give rewards in \[0, 1\]") as caught:
        tc_verl.make_adv_estimator("treerpo", **bound)(**batch, config={})  # was: only +algorithm.... overrides
    assert "+algorithm" not in str(caught.value)


def test_rewards_outside_the_unit_interval_with_nothing_bound_or_configured_get_both_forms():
    batch = fake_verl_batch(kl_coef=0.0)
    batch["token_level_rewards"] = batch["token_level_rewards"] * 3.0
    batch["step_ends"] = None
    adv_fn = tc_verl.make_adv_estimator("treerpo")
    from treecredit.integrations.verl import _BATCH_FIELDS
    token = _BATCH_FIELDS.set({"step_ends": torch.ones_like(batch["response_mask"])})  # the batch's own steps
    try:
        with pytest.raises(ValueError, match=r"Fix: set \+algorithm\.treecredit_options\.scale=std or "
                                             r"\+algorithm\.treecredit_options\.scale=none \(in Python: "
                                             r"make_adv_estimator\(\.\.\., scale='std' or scale='none'\)\)"):
            adv_fn(**{k: v for k, v in batch.items() if k != "step_ends"}, config={})
    finally:
        _BATCH_FIELDS.reset(token)


def test_rewards_outside_the_unit_interval_name_the_hydra_override():
    batch = fake_verl_batch(kl_coef=0.0)
    batch["token_level_rewards"] = batch["token_level_rewards"] * 3.0  # scores 0 or 3
    with pytest.raises(ValueError) as caught:
        tc_verl.make_adv_estimator("treerpo")(**batch, config={"treecredit_options": {"step_tokens": 2}})
    message = str(caught.value)
    assert message.startswith("rewards: are outside [0, 1] (from 0 to 3)"), message
    assert ("Fix: set +algorithm.treecredit_options.scale=std or +algorithm.treecredit_options.scale=none, or give "
            "rewards in [0, 1]") in message
    assert "treecredit train" not in message


BOUND_REFUSALS = [
    ({"scale": "abc"}, r"^scale: is 'abc', not one of .*\(checked on a 4-response test batch when make_adv_estimator "
                       r"was called"),
    ({"tau": -1.0, "step_tokens": 2}, r"^tau: "),
    ({"step_pattern": "", "tokenizer": _Digits()}, r"^step_pattern: is ''"),
    ({"step_pattern": _Digits(), "tokenizer": "|"}, r"^step_pattern: is a _Digits, not text: step_pattern and "
                                                    r"tokenizer look swapped"),
    ({"step_pattern": "|", "step_regex": r"\|+", "tokenizer": _Digits()},
     r"^step_pattern: was given together with step_regex.*Fix: give exactly one"),
    ({"step_regex": "(", "tokenizer": _Digits()}, r"^step_regex: is '\(', which does not compile"),
    ({"step_pattern": "|"}, r"^tokenizer: is needed to decode the responses for step_pattern\. Fix: pass tokenizer= "
                            r"to make_adv_estimator"),
    ({"step_pattern": "|", "tokenizer": 7}, r"^tokenizer: is 7, which has no decode"),
    ({"step_pattern": "|", "tokenizer": _Digits(), "step_tokens": 4},
     r"^step_tokens: and step_pattern both give 'treerpo' its steps"),
    ({"step_pattern": "|", "tokenizer": _Digits(), "delimiter": [4]}, r"^delimiter: and step_pattern both give"),
]


@pytest.mark.parametrize("options,match", BOUND_REFUSALS)
def test_bound_options_are_checked_when_bound_and_named_by_their_keyword(options, match):
    with pytest.raises(ValueError, match=match) as caught:
        tc_verl.make_adv_estimator("treerpo", **options)
    assert "algorithm.treecredit_options" not in str(caught.value).split(". Fix:")[0]


@pytest.mark.parametrize("configured,match", [
    ({"step_pattern": "|", "tokenizer": _Digits(), "delimiter": [4]},
     r"^algorithm\.treecredit_options\.delimiter: and algorithm\.treecredit_options\.step_pattern both give"),
    ({"step_regex": r"\|"}, r"^algorithm\.treecredit_options\.step_regex: was given together with step_pattern"),
    ({"step_pattern": _Digits(), "tokenizer": "|"}, r"^algorithm\.treecredit_options\.step_pattern: is a _Digits, "
                                                    r"not text.*Fix: .*\+algorithm\.treecredit_options\.step_pattern="),
])
def test_config_options_are_named_by_their_config_key_beside_bound_ones(configured, match):
    bound = {} if "step_regex" not in configured else {"step_pattern": "|", "tokenizer": _Digits()}
    adv_fn = tc_verl.make_adv_estimator("tempo", **bound)
    with pytest.raises(ValueError, match=match):
        adv_fn(**fake_verl_batch(), config={"treecredit_options": configured})


def test_a_configured_pattern_without_a_tokenizer_gets_the_hydra_fix():
    with pytest.raises(ValueError, match=r"^algorithm\.treecredit_options\.tokenizer: is needed .*Fix: set "
                                         r"\+algorithm\.treecredit_options\.tokenizer="):
        tc_verl.make_adv_estimator("tempo")(**fake_verl_batch(), config={"treecredit_options": {"step_pattern": "|"}})


def test_a_bound_tokenizer_waits_for_a_configured_pattern():
    adv_fn = tc_verl.make_adv_estimator("tempo", tokenizer=_Digits())  # the pattern may come from verl's config
    with pytest.raises(ValueError, match=r"^tokenizer: is set, but neither step_pattern nor step_regex is.*"
                                         r"\+algorithm\.treecredit_options\.step_pattern="):
        adv_fn(**fake_verl_batch(), config={})


def test_a_delimiter_that_finds_no_step_is_warned_about_with_the_hydra_fix():
    adv_fn = tc_verl.make_adv_estimator("tempo")
    with pytest.warns(UserWarning, match=r"no step boundary from delimiter \[9\].*give the steps as text \(set "
                                         r"\+algorithm\.treecredit_options\.step_pattern='\\n\\n' with "
                                         r"\+algorithm\.treecredit_options\.tokenizer=") as caught:
        adv_fn(**fake_verl_batch(), config={"treecredit_options": {"delimiter": [9]}})
    assert not any("step_ends_from_text" in str(w.message) for w in caught)


def test_an_unknown_estimator_lists_only_those_verl_can_run():
    with pytest.raises(ValueError, match=r"^estimator: unknown token-level estimator 'TreeRPO' \(did you mean "
                                         r"'treerpo'\?\)\. Fix: use one of: dr_grpo, grpo, .*treerpo\.$") as caught:
        tc_verl.make_adv_estimator("TreeRPO")
    assert "vine" not in str(caught.value)


def test_a_step_estimator_without_any_steps_gets_the_hydra_form_of_the_fix():
    adv_fn = tc_verl.make_adv_estimator("treerpo")  # nothing bound, nothing configured, no steps in the batch
    with pytest.raises(ValueError, match=r"^step_ends: estimator 'treerpo' needs steps or tree, which was not given "
                       r"\(verl's batch has no step_ends or tree_nodes, and no step option was set\)\. Fix: set "
                       r"\+algorithm\.treecredit_options\.step_pattern='\\n\\n' with "
                       r"\+algorithm\.treecredit_options\.tokenizer=<the model's local path>"):
        adv_fn(**fake_verl_batch(), config={})


def test_a_delimiter_bound_in_python_that_finds_no_step_is_warned_about_with_the_python_fix():
    adv_fn = tc_verl.make_adv_estimator("tempo", delimiter=[9])
    with pytest.warns(UserWarning, match=r"no step boundary from delimiter \[9\].*give the steps as text \(pass "
                                         r"step_pattern='\\n\\n' with tokenizer=<the tokenizer, or the model's local "
                                         r"path> to make_adv_estimator, .* and drop delimiter\)") as caught:
        adv_fn(**fake_verl_batch(), config={})  # was: only the Hydra form, +algorithm.treecredit_options...
    assert not any("+algorithm" in str(w.message) for w in caught)
    with pytest.warns(UserWarning, match=r"give the steps as text \(set \+algorithm\.treecredit_options\.step_pattern"):
        adv_fn(**fake_verl_batch(), config={"treecredit_options": {"delimiter": [9]}})  # set in verl's config


@pytest.mark.parametrize("where", ["bound", "config"])
def test_the_text_step_options_are_checked_once_per_advantage_step(monkeypatch, where):
    text = {"step_pattern": "|", "tokenizer": _Digits()}
    adv_fn = tc_verl.make_adv_estimator("treerpo", scale="std", **(text if where == "bound" else {}))
    calls = []
    real = tc_verl.text_step_pattern
    monkeypatch.setattr(tc_verl, "text_step_pattern", lambda *a, **k: calls.append(1) or real(*a, **k))
    adv_fn(**fake_verl_batch(), config={"treecredit_options": {} if where == "bound" else text})
    assert len(calls) == 1  # was: 2, once to check them and once again to find the step ends


def test_a_bound_option_set_that_fails_otherwise_is_named_as_a_whole(monkeypatch):
    from treecredit.integrations import _grpo_layout

    def boom(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(_grpo_layout, "_run_on_test_batch", boom)
    # the message of TRL's trainer (_grpo_layout.option_message), in make_adv_estimator's terms
    with pytest.raises(ValueError, match=r"^make_adv_estimator: estimator 'treerpo' fails with the options "
                       r"\{'scale': 'std'\} \(RuntimeError: boom; checked on a 4-response test batch when "
                       r"make_adv_estimator was called, before verl runs\)\. Fix: change or drop these options\.$"):
        tc_verl.make_adv_estimator("treerpo", scale="std")


@pytest.mark.parametrize("delimiter,text", [(" ", "' '"), ("###", "'###'"), (["Step", ":"], "'Step:'")])
def test_a_text_delimiter_gets_an_example_of_the_text_given(delimiter, text):
    # was: every text delimiter got the example '\n\n', whatever the user tried
    quoted = text.replace("'", r"\'")
    with pytest.raises(ValueError, match=rf"^delimiter: is the text {quoted}; delimiter takes token ids\. Fix: pass "
                                         rf"its token ids \(delimiter=tokenizer\.encode\({quoted}, .*pass "
                                         rf"step_pattern={quoted} with tokenizer=") as caught:
        tc_verl.make_adv_estimator("tempo", delimiter=delimiter)
    assert r"\n\n" not in str(caught.value)
    config = {"treecredit_options": {"delimiter": delimiter}}
    fix = rf"Fix: set \+algorithm\.treecredit_options\.step_pattern={quoted} with "
    with pytest.raises(ValueError, match=rf"^algorithm\.treecredit_options\.delimiter: is the text {quoted}; .*{fix}"
                       ) as caught:
        tc_verl.make_adv_estimator("tempo")(**fake_verl_batch(), config=config)
    assert r"\n\n" not in str(caught.value)


def test_a_delimiter_of_ids_written_as_text_gets_the_ids():
    with pytest.raises(ValueError, match=r"^algorithm\.treecredit_options\.delimiter: is the text '\[4, 5\]', not "
                                         r"token ids\. Fix: write the ids unquoted, "
                                         r"\+algorithm\.treecredit_options\.delimiter=\[4,5\]\.$"):
        tc_verl.make_adv_estimator("tempo")(**fake_verl_batch(), config={"treecredit_options": {"delimiter": "[4, 5]"}})
    with pytest.raises(ValueError, match=r"^delimiter: is the text '4', not token ids\. Fix: pass the ids as a list "
                                         r"of ints, delimiter=\[4\]\.$"):
        tc_verl.make_adv_estimator("tempo", delimiter="4")


def test_an_unknown_option_lists_only_what_a_verl_user_can_give():
    # was: "'tempo' accepts: norm_by_std, epsilon, step_ends, delimiter, step_tokens, tree_nodes", though step_ends
    # and tree_nodes are refused as options (verl's batch gives them)
    accepted = (r"takes: norm_by_std, epsilon, delimiter, step_tokens, step_pattern, step_regex, tokenizer \(step_ends "
                r"and tree_nodes come from verl's batch")
    with pytest.raises(ValueError, match=rf"^step_end: estimator 'tempo' does not take option\(s\) \['step_end'\] "
                                         rf"\(did you mean 'step_tokens'\?\)\. Fix: remove them; 'tempo' {accepted}"):
        tc_verl.make_adv_estimator("tempo", step_end=1)
    with pytest.raises(ValueError, match=rf"^algorithm\.treecredit_options\.foo: .*Fix: remove them; 'tempo' "
                                         rf"{accepted}"):
        tc_verl.make_adv_estimator("tempo")(**fake_verl_batch(), config={"treecredit_options": {"foo": 1}})
    with pytest.raises(ValueError, match=r"^foo: .*Fix: remove them; 'grpo' takes: norm_by_std, epsilon\.$"):
        tc_verl.make_adv_estimator("grpo", foo=1)


def test_an_empty_text_delimiter_gets_no_empty_step_pattern_as_its_fix():
    """delimiter='' suggested step_pattern='', which is itself refused (trial 22)."""
    from treecredit.integrations.verl import make_adv_estimator

    with pytest.raises(ValueError) as info:
        make_adv_estimator("tempo", delimiter="")
    message = str(info.value)
    assert message.startswith("delimiter: is the empty text '', which marks no step end")
    assert "step_pattern=''" not in message


def test_a_tokenizer_hub_id_is_read_from_the_local_cache_only(monkeypatch, tmp_path):
    # was: AutoTokenizer.from_pretrained(name), which tries the hub for an id that is not cached
    transformers = pytest.importorskip("transformers")
    asked = []

    def offline(name, **kwargs):
        asked.append(kwargs)
        raise OSError(f"{name} is not in the cache and local_files_only is set")

    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", offline)
    tc_verl._load_tokenizer.cache_clear()
    config = {"treecredit_options": {"step_pattern": "|", "tokenizer": "org/never-cached"}}
    with pytest.raises(ValueError, match=r"^algorithm\.treecredit_options\.tokenizer: is 'org/never-cached', which "
                                         r"transformers' AutoTokenizer could not load from a local folder or the "
                                         r"local Hugging Face cache, nothing being downloaded .*Fix: set it to the "
                                         r"local folder .*`hf download ORG/NAME`; `huggingface-cli download` with "
                                         r"huggingface_hub before 0\.34\)"):
        tc_verl.make_adv_estimator("tempo")(**fake_verl_batch(), config=config)
    assert asked == [{"local_files_only": True}]


def test_verls_config_options_are_checked_once_per_distinct_value(monkeypatch):
    # was: every advantage step checked the same algorithm.treecredit_options again (names, kinds, pattern)
    adv_fn = tc_verl.make_adv_estimator("treerpo")
    calls = []
    real = tc_verl.check_names
    monkeypatch.setattr(tc_verl, "check_names", lambda *a: calls.append(dict(a[2])) or real(*a))
    same = {"treecredit_options": {"scale": "std", "step_pattern": "|", "tokenizer": _Digits()}}
    first = adv_fn(**fake_verl_batch(), config=same)[0]
    torch.testing.assert_close(adv_fn(**fake_verl_batch(), config=same)[0], first)  # the same advantages
    assert calls == [{"scale": "std"}]
    adv_fn(**fake_verl_batch(), config={"treecredit_options": {"scale": "none", "step_tokens": 2}})  # changed: checked
    assert calls == [{"scale": "std"}, {"scale": "none", "step_tokens": 2}]
    bad = {"treecredit_options": {"scale": "abc", "step_tokens": 2}}
    for _ in range(2):  # a refused value stays refused at every step
        with pytest.raises(ValueError, match=r"^algorithm\.treecredit_options\.scale: is 'abc'"):
            adv_fn(**fake_verl_batch(), config=bad)


def test_a_bound_norm_by_std_true_against_verls_flag_false_is_refused_naming_both():
    """review39 5: ``make_adv_estimator("grpo", norm_by_std=True)`` under ``algorithm.norm_adv_by_std_in_grpo=False``
    gave unnormalised advantages without a word (the flag won over the bound option)."""
    import numpy as np

    from treecredit.integrations.verl import make_adv_estimator

    rewards = torch.zeros(4, 3)
    rewards[:, -1] = torch.tensor([1.0, 0.0, 0.0, 0.0])
    batch = dict(token_level_rewards=rewards, response_mask=torch.ones(4, 3), index=np.array(["p"] * 4, dtype=object))
    fn = make_adv_estimator("grpo", norm_by_std=True)
    with pytest.raises(ValueError, match=r"^norm_by_std: is True \(bound: make_adv_estimator\('grpo', norm_by_std=True"
                                         r"\)\), but verl's algorithm.norm_adv_by_std_in_grpo=False"):
        fn(**batch, config={"norm_adv_by_std_in_grpo": False})
    normalised = fn(**batch, config={"norm_adv_by_std_in_grpo": True})[0]
    user = {"norm_adv_by_std_in_grpo": False, "treecredit_options": {"norm_by_std": True}}  # the config's own wins
    torch.testing.assert_close(fn(**batch, config=user)[0], normalised)
    plain = make_adv_estimator("grpo")(**batch, config={"norm_adv_by_std_in_grpo": False})[0]  # the flag alone
    assert not torch.allclose(plain, normalised)
