"""The verl shell: verl's batch layout through ``treecredit_<name>`` equals the core on the same data.

The conversion tests need torch only; the registry and trainer-hook tests skip unless verl imports.
"""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import treecredit  # noqa: E402
from treecredit.integrations import verl as tc_verl  # noqa: E402

GROUP_SIZE, N_GROUPS, T = 4, 3, 8


def fake_verl_batch(seed=0, kl_coef=0.01):
    """A verl-like batch: responses sharing prefixes within a group, right padding, uid strings,
    the score on each response's last token and a small per-token in-reward KL term."""
    rng = np.random.default_rng(seed)
    n = GROUP_SIZE * N_GROUPS
    responses = rng.integers(3, 6, size=(n, T))
    for g in range(N_GROUPS):  # shared prefixes make the tries branch
        rows = slice(g * GROUP_SIZE, (g + 1) * GROUP_SIZE)
        responses[rows, :3] = responses[g * GROUP_SIZE, :3]
    lengths = rng.integers(4, T + 1, size=n)
    mask = (np.arange(T)[None, :] < lengths[:, None]).astype(np.int64)
    responses = responses * mask  # verl pads with the pad id; 0 here
    scores = rng.integers(0, 2, size=n).astype(np.float32)
    token_level_rewards = -kl_coef * mask.astype(np.float32) * rng.random((n, T), dtype=np.float32)
    token_level_rewards[np.arange(n), lengths - 1] += scores
    uid = np.array([f"prompt-{g}" for g in np.repeat(np.arange(N_GROUPS), GROUP_SIZE)], dtype=object)
    return {
        "token_level_rewards": torch.from_numpy(token_level_rewards),
        "response_mask": torch.from_numpy(mask),
        "index": uid,
        "responses": torch.from_numpy(responses),
    }


def core_advantages(name, batch, **options):
    return treecredit.compute_advantages(
        name, response_ids=batch["responses"], response_mask=batch["response_mask"],
        rewards=batch["token_level_rewards"].sum(-1), group_ids=batch["index"], **options)


VERL_NAMES = [n for n in treecredit.estimators("token") if n != "vine"]  # vine needs Monte Carlo values


@pytest.mark.parametrize("name", VERL_NAMES)
def test_every_estimator_through_verls_signature_equals_the_core(name):
    batch = fake_verl_batch()
    adv_fn = tc_verl.make_adv_estimator(name)
    try:
        expected = core_advantages(name, batch)
    except ValueError as core_error:  # an estimator that needs options: the shell fails the same way
        with pytest.raises(ValueError, match=str(core_error)[:40].replace("(", r"\(").replace("[", r"\[")):
            adv_fn(**batch, config=None)
        return
    advantages, returns = adv_fn(**batch, config=None)
    torch.testing.assert_close(advantages, expected)
    torch.testing.assert_close(returns, expected)
    assert advantages.dtype == torch.float32 and advantages.shape == batch["responses"].shape


def test_rewards_are_the_sum_of_token_level_rewards():
    # The in-reward KL terms move the rewards, so the advantages differ from those of the scores alone.
    with_kl, without_kl = fake_verl_batch(kl_coef=0.5), fake_verl_batch(kl_coef=0.0)
    adv_fn = tc_verl.make_adv_estimator("grpo")
    torch.testing.assert_close(adv_fn(**with_kl)[0], core_advantages("grpo", with_kl))
    assert not torch.allclose(adv_fn(**with_kl)[0], adv_fn(**without_kl)[0])


def test_options_come_from_the_binding_and_from_the_algorithm_config():
    batch = fake_verl_batch()
    expected = core_advantages("grpo", batch, norm_by_std=False)
    torch.testing.assert_close(tc_verl.make_adv_estimator("grpo", norm_by_std=False)(**batch)[0], expected)
    config = {"adv_estimator": "treecredit_grpo", "treecredit_options": {"norm_by_std": False}}
    torch.testing.assert_close(tc_verl.make_adv_estimator("grpo")(**batch, config=config)[0], expected)
    # the config overrides the binding
    bound = tc_verl.make_adv_estimator("grpo", norm_by_std=True)
    torch.testing.assert_close(bound(**batch, config=config)[0], expected)


def test_options_in_an_omegaconf_config():
    omegaconf = pytest.importorskip("omegaconf")
    batch = fake_verl_batch()
    config = omegaconf.OmegaConf.create({"treecredit_options": {"norm_by_std": False}})
    torch.testing.assert_close(tc_verl.make_adv_estimator("grpo")(**batch, config=config)[0],
                               core_advantages("grpo", batch, norm_by_std=False))


def test_missing_response_ids_name_the_fix():
    batch = fake_verl_batch()
    del batch["responses"]
    with pytest.raises(ValueError, match="responses: verl did not pass the response token ids, which 'tempo' needs .*"
                                         "only grpo, rloo, dr_grpo run without them.*Fix: .*use_v1=False"):
        tc_verl.make_adv_estimator("tempo")(**batch)


@pytest.mark.parametrize("name, options", [("grpo", {}), ("grpo", {"norm_by_std": False}), ("rloo", {}),
                                           ("dr_grpo", {})])
def test_outcome_estimators_run_without_response_ids_as_with_them(name, options):
    """verl's v1 trainer passes no response ids; estimators that give one advantage per response do not read
    them, so they run there and give what they give with the ids."""
    batch = fake_verl_batch()
    expected = core_advantages(name, batch, **options)
    del batch["responses"]
    torch.testing.assert_close(tc_verl.make_adv_estimator(name, **options)(**batch)[0], expected)


def test_missing_uids_and_bad_options_are_refused():
    batch = fake_verl_batch()
    batch["index"] = None
    with pytest.raises(ValueError, match="index: "):
        tc_verl.make_adv_estimator("grpo")(**batch)
    with pytest.raises(ValueError, match="tau"):
        tc_verl.make_adv_estimator("grpo", tau=0.5)
    with pytest.raises(ValueError, match="treecredit_options"):
        tc_verl.make_adv_estimator("grpo")(**fake_verl_batch(), config={"treecredit_options": [1]})


# ---- with verl installed --------------------------------------------------------------------------


def test_import_registers_every_estimator_in_verls_registry():
    core_algos = pytest.importorskip("verl.trainer.ppo.core_algos")
    names = tc_verl.register()  # idempotent: the import already registered them
    assert names == [f"treecredit_{n}" for n in VERL_NAMES]
    batch = fake_verl_batch(kl_coef=0.0)  # rewards in [0, 1], as treerpo's default scale needs
    cases = {"grpo": {}, "rloo": {}, "ibpo": {}, "tempo": {}, "treerpo": {"step_tokens": 2}}
    for name in set(cases) & set(treecredit.estimators("token")):
        adv_fn = core_algos.get_adv_estimator_fn(f"treecredit_{name}")
        config = {"treecredit_options": cases[name]}
        torch.testing.assert_close(adv_fn(**batch, config=config)[0], core_advantages(name, batch, **cases[name]))


def _data_proto(batch):
    from verl import DataProto

    tensors = {k: batch[k] for k in ("responses", "response_mask", "token_level_rewards")}
    return DataProto.from_dict(tensors=tensors, non_tensors={"uid": batch["index"]})


def test_legacy_compute_advantage_passes_response_ids_once_hooked(monkeypatch):
    ray_trainer = pytest.importorskip("verl.trainer.ppo.ray_trainer")
    name = "ibpo" if "ibpo" in treecredit.estimators("token") else "tempo"
    monkeypatch.setattr(ray_trainer, "compute_advantage", ray_trainer.compute_advantage)  # undone after
    batch = fake_verl_batch()
    config = {"treecredit_options": {"step_tokens": 2}}
    with pytest.raises(ValueError, match="responses: "):
        ray_trainer.compute_advantage(_data_proto(batch), adv_estimator=f"treecredit_{name}", config=config)

    tc_verl.pass_response_ids()
    tc_verl.pass_response_ids()  # idempotent
    data = ray_trainer.compute_advantage(_data_proto(batch), adv_estimator=f"treecredit_{name}", config=config)
    expected = core_advantages(name, batch, step_tokens=2)
    torch.testing.assert_close(data.batch["advantages"], expected)
    torch.testing.assert_close(data.batch["returns"], expected)
    # verl's own estimators still go through verl's code
    data = ray_trainer.compute_advantage(_data_proto(batch), adv_estimator="grpo", config=config)
    assert data.batch["advantages"].shape == batch["responses"].shape


def test_verls_external_modules_hook_registers_and_wraps_in_a_fresh_process():
    # The documented configuration: VERL_USE_EXTERNAL_MODULES=treecredit.integrations.verl_legacy.
    pytest.importorskip("verl.trainer.ppo.ray_trainer")
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import verl\n"
            "from verl.trainer.ppo import core_algos, ray_trainer\n"
            "print('treecredit_tempo' in core_algos.ADV_ESTIMATOR_REGISTRY,"
            " getattr(ray_trainer.compute_advantage, 'treecredit_wrapped', False))\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src"),
           "VERL_USE_EXTERNAL_MODULES": "treecredit.integrations.verl_legacy"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "True True"


# ---- verl's flags and per-batch fields (verl's calling convention, without verl) ---------------------


def test_verls_norm_flag_switches_the_std_off_and_treecredit_options_win():
    batch = fake_verl_batch()
    adv_fn = tc_verl.make_adv_estimator("grpo")
    no_std = core_advantages("grpo", batch, norm_by_std=False)
    with_std = core_advantages("grpo", batch)
    assert not torch.allclose(no_std, with_std)
    torch.testing.assert_close(adv_fn(**batch, config={"norm_adv_by_std_in_grpo": False})[0], no_std)
    torch.testing.assert_close(adv_fn(**batch, config={"norm_adv_by_std_in_grpo": True})[0], with_std)
    both = {"norm_adv_by_std_in_grpo": False, "treecredit_options": {"norm_by_std": True}}
    torch.testing.assert_close(adv_fn(**batch, config=both)[0], with_std)
    # an estimator without norm_by_std ignores verl's flag
    rloo = tc_verl.make_adv_estimator("rloo")
    torch.testing.assert_close(rloo(**batch, config={"norm_adv_by_std_in_grpo": False})[0],
                               core_advantages("rloo", batch))


def test_verls_default_norm_flag_keeps_each_estimators_own_default():
    # spo divides by no std by default (core, TRL); verl's default True must not switch it on
    batch = fake_verl_batch()
    spo = tc_verl.make_adv_estimator("spo")
    own = core_advantages("spo", batch)
    assert not torch.allclose(own, core_advantages("spo", batch, norm_by_std=True)), "weak test: std changes nothing"
    torch.testing.assert_close(spo(**batch, config={"norm_adv_by_std_in_grpo": True})[0], own)
    torch.testing.assert_close(spo(**batch, config={"norm_adv_by_std_in_grpo": False})[0], own)
    with_std = {"norm_adv_by_std_in_grpo": True, "treecredit_options": {"norm_by_std": True}}
    torch.testing.assert_close(spo(**batch, config=with_std)[0], core_advantages("spo", batch, norm_by_std=True))


def test_verls_norm_flag_in_an_omegaconf_algorithm_config():
    omegaconf = pytest.importorskip("omegaconf")
    batch = fake_verl_batch()
    config = omegaconf.OmegaConf.create({"adv_estimator": "treecredit_tempo", "norm_adv_by_std_in_grpo": False})
    torch.testing.assert_close(tc_verl.make_adv_estimator("tempo")(**batch, config=config)[0],
                               core_advantages("tempo", batch, norm_by_std=False))


class _FakeDataProto:
    def __init__(self, batch, **fields):
        self.batch = {k: batch[k] for k in ("responses", "response_mask", "token_level_rewards")} | fields
        self.non_tensor_batch = {"uid": batch["index"]}


def _verl_091_compute_advantage(data, adv_estimator, config=None):
    """verl 0.9.1's branch for registered estimators, as it calls them (no response ids)."""
    adv_fn = tc_verl.make_adv_estimator(adv_estimator.removeprefix(tc_verl.PREFIX))
    advantages, returns = adv_fn(token_level_rewards=data.batch["token_level_rewards"],
                                 response_mask=data.batch["response_mask"], config=config,
                                 index=data.non_tensor_batch["uid"])
    data.batch["advantages"], data.batch["returns"] = advantages, returns
    return data


def _tree_nodes(batch):
    """An explicit tree for fake_verl_batch: each group's 3 shared tokens are one node, each rest a leaf."""
    mask = batch["response_mask"].numpy().astype(bool)
    nodes = np.full(mask.shape, -1, dtype=np.int64)
    for i in range(mask.shape[0]):
        nodes[i, :3] = 100 + i // GROUP_SIZE
        nodes[i, 3:] = i
    return torch.from_numpy(np.where(mask, nodes, -1))


def test_step_ends_and_tree_nodes_of_the_batch_reach_the_estimator():
    compute = tc_verl.with_batch_fields(_verl_091_compute_advantage)
    batch = fake_verl_batch()
    step_ends = torch.zeros_like(batch["response_mask"])
    step_ends[:, 1] = 1
    tree_nodes = _tree_nodes(batch)
    data = compute(_FakeDataProto(batch, step_ends=step_ends), "treecredit_tempo")
    expected = core_advantages("tempo", batch, step_ends=step_ends)
    assert not torch.allclose(expected, core_advantages("tempo", batch))  # the step ends matter
    torch.testing.assert_close(data.batch["advantages"], expected)
    # a tree wins over step ends, as in treecredit's trainer
    data = compute(_FakeDataProto(batch, step_ends=step_ends, tree_nodes=tree_nodes), "treecredit_tempo")
    torch.testing.assert_close(data.batch["advantages"], core_advantages("tempo", batch, tree_nodes=tree_nodes))
    # the user's own step description wins over the batch's fields
    config = {"treecredit_options": {"step_tokens": 2}}
    data = compute(_FakeDataProto(batch, step_ends=step_ends, tree_nodes=tree_nodes), "treecredit_tempo", config)
    torch.testing.assert_close(data.batch["advantages"], core_advantages("tempo", batch, step_tokens=2))
    # an estimator that takes neither is unaffected
    data = compute(_FakeDataProto(batch, step_ends=step_ends, tree_nodes=tree_nodes), "treecredit_grpo")
    torch.testing.assert_close(data.batch["advantages"], core_advantages("grpo", batch))


class _Digits:
    """A tokenizer stand-in: ids 3, 4, 5 decode to 'a', '|', 'b'."""

    def decode(self, ids):
        return "".join({0: "", 3: "a", 4: "|", 5: "b"}[int(i)] for i in ids)


def test_step_pattern_gives_step_ends_from_the_decoded_responses():
    batch = fake_verl_batch()
    tokenizer = _Digits()
    config = {"treecredit_options": {"step_pattern": "|", "tokenizer": tokenizer}}
    advantages = tc_verl.make_adv_estimator("tempo")(**batch, config=config)[0]
    ends = treecredit.step_ends_from_text(batch["responses"], tokenizer, "|", response_mask=batch["response_mask"])
    assert ends.sum() > 0
    torch.testing.assert_close(advantages, core_advantages("tempo", batch, step_ends=ends))
    with pytest.warns(UserWarning, match="no step boundary"):
        tc_verl.make_adv_estimator("tempo")(**batch, config={"treecredit_options": {"step_regex": "x+",
                                                                                      "tokenizer": tokenizer}})
    with pytest.raises(ValueError, match="tokenizer: "):
        tc_verl.make_adv_estimator("tempo")(**batch, config={"treecredit_options": {"step_pattern": "|"}})
    empty = {"treecredit_options": {"step_regex": "", "tokenizer": tokenizer}}
    with pytest.raises(ValueError, match=r"^algorithm\.treecredit_options\.step_regex: .*matches the empty string"):
        tc_verl.make_adv_estimator("tempo")(**batch, config=empty)
    with pytest.warns(UserWarning, match=r"The pattern 'x' matched nowhere.*the first one ends with '[ab|]+'"):
        tc_verl.make_adv_estimator("tempo")(**batch, config={"treecredit_options": {"step_pattern": "x",
                                                                                      "tokenizer": tokenizer}})


class _SmallVocabulary(_Digits):
    """A tokenizer stand-in with 6 ids (0-5): fewer than the model that sampled the batch may have."""

    vocab_size = 6

    def decode(self, ids):
        return "".join({0: "", 3: "a", 4: "|", 5: "b"}.get(int(i), "") for i in ids)


def test_step_pattern_accepts_ids_the_model_has_beyond_the_tokenizers_vocabulary():
    # verl's responses are the actor's own samples, and a model may have more embedding rows than its
    # tokenizer has tokens (Qwen2.5): such an id must not stop training in the middle of a run
    batch = fake_verl_batch()
    responses = batch["responses"].clone()
    responses[0, 0] = 9  # beyond the tokenizer's 6 ids
    batch["responses"] = responses
    tokenizer = _SmallVocabulary()
    config = {"treecredit_options": {"step_pattern": "|", "tokenizer": tokenizer}}
    advantages = tc_verl.make_adv_estimator("tempo")(**batch, config=config)[0]
    ends = treecredit.step_ends_from_text(responses, tokenizer, "|", response_mask=batch["response_mask"],
                                          vocab_size=10)
    torch.testing.assert_close(advantages, core_advantages("tempo", batch, step_ends=ends))
    negative = batch["responses"].clone()
    negative[0, 0] = -3  # never a sampled id: still refused
    with pytest.raises(ValueError, match="negative id"):
        tc_verl.make_adv_estimator("tempo")(**{**batch, "responses": negative}, config=config)


def test_verls_legacy_compute_advantage_passes_the_batchs_step_ends_and_tree_nodes(monkeypatch):
    ray_trainer = pytest.importorskip("verl.trainer.ppo.ray_trainer")
    from verl import DataProto

    monkeypatch.setattr(ray_trainer, "compute_advantage", ray_trainer.compute_advantage)  # undone after
    tc_verl.pass_response_ids()
    batch = fake_verl_batch()
    step_ends = torch.zeros_like(batch["response_mask"])
    step_ends[:, 1] = 1
    tensors = {k: batch[k] for k in ("responses", "response_mask", "token_level_rewards")}
    data = DataProto.from_dict(tensors={**tensors, "step_ends": step_ends}, non_tensors={"uid": batch["index"]})
    config = {"norm_adv_by_std_in_grpo": False}
    out = ray_trainer.compute_advantage(data, adv_estimator="treecredit_tempo", config=config)
    torch.testing.assert_close(out.batch["advantages"],
                               core_advantages("tempo", batch, step_ends=step_ends, norm_by_std=False))
    tree_nodes = _tree_nodes(batch)
    data = DataProto.from_dict(tensors={**tensors, "tree_nodes": tree_nodes}, non_tensors={"uid": batch["index"]})
    out = ray_trainer.compute_advantage(data, adv_estimator="treecredit_tempo", config={})
    torch.testing.assert_close(out.batch["advantages"], core_advantages("tempo", batch, tree_nodes=tree_nodes))
