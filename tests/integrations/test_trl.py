"""TreeCreditGRPOTrainer: a real TRL training step on CPU with a tiny random model and a local tokenizer.

Skipped when TRL is not installed (it is an optional extra).
"""

import re

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")

import treecredit  # noqa: E402
from treecredit.integrations.trl import TreeCreditGRPOTrainer  # noqa: E402

VOCAB = ["<pad>", "<eos>", "<unk>"] + list("abcdefgh+=0123456789 ")
NUM_GENERATIONS = 4
PER_DEVICE_BATCH = 8  # two prompts x four completions per step


def _tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    char_level = Tokenizer(models.WordLevel({tok: i for i, tok in enumerate(VOCAB)}, unk_token="<unk>"))
    char_level.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    return PreTrainedTokenizerFast(tokenizer_object=char_level, pad_token="<pad>", eos_token="<eos>",
                                   unk_token="<unk>")


def _tiny_model(tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(VOCAB), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=64,
                         pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id,
                         bos_token_id=tokenizer.eos_token_id)
    return LlamaForCausalLM(config)


A_ID = VOCAB.index("a")


def count_a(completion_ids, **kwargs):
    """Reward: how many 'a' tokens a completion holds (a pure function of the token ids)."""
    return [float(sum(token == A_ID for token in ids)) for ids in completion_ids]


LETTER_IDS = {VOCAB.index(c) for c in "abcdefgh"}


def count_letters(completion_ids, **kwargs):
    """Reward: how many letter tokens a completion holds."""
    return [float(sum(token in LETTER_IDS for token in ids)) for ids in completion_ids]


class RecordingTrainer(TreeCreditGRPOTrainer):
    """Records what generation produced and what the loss was given."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.generated, self.loss_inputs = [], []

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        keys = ("prompt_ids", "completion_ids", "completion_mask", "advantages")
        self.generated.append({k: output[k].clone() for k in keys})
        return output

    def _compute_loss(self, model, inputs):
        self.loss_inputs.append({k: inputs[k].clone() for k in ("prompt_ids", "completion_ids", "advantages")})
        return super()._compute_loss(model, inputs)


def _train(tmp_path, estimator, max_steps=2, **options):
    from trl import GRPOConfig

    torch.set_num_threads(1)
    tokenizer = _tokenizer()
    dataset = datasets.Dataset.from_dict({"prompt": ["1+2=", "ab", "3+4=", "ba", "5+6=", "cd", "7+8=", "dc"]})
    args = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, per_device_train_batch_size=PER_DEVICE_BATCH,
                      num_generations=NUM_GENERATIONS, max_completion_length=6, max_steps=max_steps,
                      learning_rate=1e-3, beta=0.0, report_to="none", save_strategy="no", logging_steps=1,
                      seed=0, temperature=1.5, dataloader_num_workers=0)
    trainer = RecordingTrainer(model=_tiny_model(tokenizer), reward_funcs=count_a, args=args, train_dataset=dataset,
                               processing_class=tokenizer, estimator=estimator, estimator_options=options)
    trainer.train()
    return trainer


def _expected(estimator, generated, **options):
    ids, mask = generated["completion_ids"], generated["completion_mask"]
    rewards = torch.tensor(count_a(ids.tolist()))  # padding is <pad>, never 'a'
    groups = torch.arange(ids.shape[0]) // NUM_GENERATIONS
    return treecredit.compute_advantages(estimator, response_ids=ids, response_mask=mask, rewards=rewards,
                                         group_ids=groups, **options)


def _require(estimator):
    if estimator not in treecredit.estimators("token"):
        pytest.skip(f"{estimator} is not registered in this checkout")


@pytest.mark.parametrize("estimator,options", [
    ("grpo", {}), ("ibpo", {"step_tokens": 2}), ("tempo", {}), ("treerpo", {"step_tokens": 2}),
])
def test_the_loss_sees_the_estimators_per_token_advantages(tmp_path, estimator, options):
    _require(estimator)
    trainer = _train(tmp_path, estimator, **options)

    assert len(trainer.generated) == 2 and len(trainer.loss_inputs) == 2
    for generated in trainer.generated:
        expected = _expected(estimator, generated, **options)
        assert generated["advantages"].shape == generated["completion_ids"].shape
        torch.testing.assert_close(generated["advantages"], expected)
    assert any(g["advantages"].abs().sum() > 0 for g in trainer.generated), "no reward spread: weak test"

    # The loss got (B, T) advantages: each row it saw is a generated row with that row's advantages
    # (TRL shuffles rows between generation and loss).
    for generated, seen in zip(trainer.generated, trainer.loss_inputs):
        assert seen["advantages"].dim() == 2
        for prompt, ids, adv in zip(seen["prompt_ids"], seen["completion_ids"], seen["advantages"]):
            same = (generated["prompt_ids"] == prompt).all(dim=1) & (generated["completion_ids"] == ids).all(dim=1)
            assert same.any()
            torch.testing.assert_close(generated["advantages"][same], adv.expand(int(same.sum()), -1))


def test_an_unknown_option_is_refused_before_any_model_is_built(tmp_path):
    with pytest.raises(ValueError, match="tau"):
        TreeCreditGRPOTrainer(model=None, estimator="grpo", estimator_options={"tau": 0.5})


def test_an_unknown_estimator_lists_the_known_ones():
    with pytest.raises(ValueError, match="grpo"):
        TreeCreditGRPOTrainer(model=None, estimator="no_such_estimator")


@pytest.mark.parametrize("kwargs,match", [
    ({"estimator": "treerpo"},
     r"estimator: 'treerpo' needs steps or tree.*Fix: pass step_pattern=TEXT.*sampler='tree'"),
    ({"estimator": "tempo", "estimator_options": ["norm_by_std"]}, r"estimator_options: is list .*not a dict"),
    ({"estimator": "tempo", "step_pattern": ""}, r"step_pattern: is '': an empty text"),
    ({"estimator": "tempo", "step_pattern": ["a", ""]}, r"step_pattern: is \['a', ''\]: an empty text"),
    ({"estimator": "tempo", "step_pattern": 5}, r"step_pattern: is 5, not text"),
    ({"estimator": "tempo", "step_pattern": re.compile("")},
     r"step_pattern: is re.compile\(''\), a regex that matches the empty string.*Fix: make it match at least one"),
    ({"estimator": "tempo", "step_pattern": ["\n", re.compile("b")]}, r"step_pattern: is \['\\n', re.compile"),
    ({"estimator": "treerpo", "estimator_options": {"delimiter": "\n\n"}},
     r"estimator_options\['delimiter'\]: is the text '\\n\\n'.*Fix: pass step_pattern='\\n\\n' to "
     "TreeCreditGRPOTrainer"),
    ({"estimator": "tempo", "estimator_options": {"delimiter": [-1]}},  # was: step_ends=step_ends_from_text(...)
     r"estimator_options\['delimiter'\]: holds the negative id -1.*or give its text: pass step_pattern='\\n\\n' to "
     "TreeCreditGRPOTrainer"),
    ({"estimator": "tempo", "estimator_options": {"tree_nodes": [[0, 0]]}},
     r"estimator_options\['tree_nodes'\]: .*pass sampler='tree'"),
    ({"estimator": "ibpo", "estimator_options": {"step_ends": [[0, 1]]}},
     r"estimator_options\['step_ends'\]: .*pass step_pattern=TEXT"),
])
def test_what_trl_cannot_give_the_estimator_is_refused_before_any_model(kwargs, match):
    _require(kwargs["estimator"])
    with pytest.raises(ValueError, match=match):
        TreeCreditGRPOTrainer(model=None, **kwargs)


def test_the_loss_gets_advantages_that_vary_within_a_completion(tmp_path):
    # ibpo over token units credits the tokens where a completion differs from its opposites: within
    # some row the advantages differ, which a per-sequence (B,) advantage could not express.
    _require("ibpo")
    trainer = _train(tmp_path, "ibpo", max_steps=1)
    seen = trainer.loss_inputs[0]["advantages"]
    generated = trainer.generated[0]
    torch.testing.assert_close(generated["advantages"], _expected("ibpo", generated))
    mask = generated["completion_mask"].bool()
    spread = [np.ptp(row[m].numpy()) for row, m in zip(generated["advantages"], mask) if m.any()]
    assert max(spread) > 0
    assert seen.dim() == 2 and seen.shape[0] == PER_DEVICE_BATCH


@pytest.mark.slow
def test_groups_split_over_two_processes_are_one_group(tmp_path):
    # torchrun, 2 CPU processes x 2 completions per step, num_generations=4: each group is split in two.
    import subprocess
    import sys
    from pathlib import Path

    here = Path(__file__).parent
    env = {**__import__("os").environ, "PYTHONPATH": str(here.parents[1] / "src"), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    str(here / "trl_two_processes.py"), str(tmp_path), "tempo" if "tempo" in
                    treecredit.estimators("token") else "grpo"], check=True, env=env, cwd=tmp_path,
                   capture_output=True, timeout=240)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    estimator = "tempo" if "tempo" in treecredit.estimators("token") else "grpo"
    local = [r["generated"][0] for r in ranks]
    width = max(g["completion_ids"].shape[1] for g in local)

    def pad(x):
        return torch.nn.functional.pad(x, (0, width - x.shape[1]))

    ids = torch.cat([pad(g["completion_ids"]) for g in local])
    mask = torch.cat([pad(g["completion_mask"]) for g in local])
    rewards = torch.tensor(count_letters(ids.tolist()))
    assert rewards.std() > 0, "no reward spread: weak test"
    expected = treecredit.compute_advantages(estimator, response_ids=ids, response_mask=mask, rewards=rewards,
                                             group_ids=torch.zeros(4, dtype=torch.long))
    for rank, g in enumerate(local):
        t = g["completion_ids"].shape[1]
        torch.testing.assert_close(g["advantages"], expected[2 * rank:2 * rank + 2, :t])


def test_a_delimiter_that_finds_no_step_is_warned_about_with_the_trainers_fix(tmp_path):
    with pytest.warns(UserWarning, match=r"no step boundary from delimiter \[99999\].*give the steps as text \(pass "
                                         r"step_pattern='\\n\\n' to TreeCreditGRPOTrainer") as caught:
        _train(tmp_path, "tempo", max_steps=1, delimiter=[99999])
    assert not any("step_ends_from_text" in str(w.message) for w in caught), "the Python function, not the trainer's"
