"""TreeCreditGRPOTrainer finds step ends from ``step_pattern`` in right-padded completions
(``step_ends_from_text(..., padding_side="right")``, as TRL pads them): a masked header at each completion's start
(a tool's output: ``tool_mask`` 0, the same ids in every row, which is what left padding looks like) and the padding
after each completion's end do not shift the step ends. A real TRL step on CPU with a tiny random model and a local
character-level tokenizer (one token a character, so a step end is where the pattern's character is)."""

import pytest

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl")
pytest.importorskip("datasets")

from test_trl import A_ID, NUM_GENERATIONS, VOCAB, RecordingTrainer, _tiny_model, _tokenizer  # noqa: E402

import treecredit  # noqa: E402
from treecredit.integrations import trl as tc_trl  # noqa: E402

HEADER_ID = VOCAB.index("h")  # the masked header's id, twice at the start of every completion


@pytest.fixture
def header_and_spy(monkeypatch):
    """TRL's generation output with a masked two-token header in every completion, and the step ends the trainer
    found (each call's ids, mask and result)."""
    generate = trl.GRPOTrainer._generate_and_score_completions

    def with_header(self, inputs):
        output = generate(self, inputs)
        ids, mask = output["completion_ids"], output["completion_mask"]
        ids[:, :2] = HEADER_ID
        mask[:, :2] = 1
        tool_mask = torch.ones_like(mask)
        tool_mask[:, :2] = 0
        output["tool_mask"] = tool_mask
        return output

    monkeypatch.setattr(trl.GRPOTrainer, "_generate_and_score_completions", with_header)
    calls = []
    found = tc_trl.step_ends_from_text

    def spy(ids, tokenizer, pattern, response_mask=None, **options):
        ends = found(ids, tokenizer, pattern, response_mask=response_mask, **options)
        calls.append((ids.clone(), response_mask.clone(), ends.clone(), options))
        return ends

    monkeypatch.setattr(tc_trl, "step_ends_from_text", spy)
    return calls


PATTERN = ["a", "h h"]
"""The step pattern: an 'a', or the header's text (the tokenizer decodes with a space between tokens)."""


def _expected_ends(ids, mask):
    """Before each row's length (one past its last unmasked token): True on the header's second token (the header
    is part of the text, masked or not) and on each token whose text holds an 'a' ('a', and a sampled '<pad>':
    special tokens are kept in the text); nothing in the padding after the row's end (each '<pad>' there holding an
    'a')."""
    ends = torch.zeros_like(ids, dtype=torch.bool)
    for row in range(ids.shape[0]):
        unmasked = mask[row].nonzero()
        length = int(unmasked[-1]) + 1 if len(unmasked) else 0
        if length:
            ends[row, 1] = True
            ends[row, 2:length] = torch.tensor(["a" in VOCAB[int(i)] for i in ids[row, 2:length]], dtype=torch.bool)
    return ends


def test_a_masked_header_and_the_padding_do_not_shift_the_step_ends(tmp_path, header_and_spy):
    trainer = _train_with_pattern(tmp_path)
    assert header_and_spy, "the trainer found no step ends from text"
    for ids, mask, ends, options in header_and_spy:
        assert options.get("padding_side") == "right"
        assert (mask[:, :2] == 0).all() and (ids[:, :2] == HEADER_ID).all()
        expected = _expected_ends(ids, mask)
        assert expected[:, 2:].any(), "no 'a' generated: weak test"
        torch.testing.assert_close(ends.bool(), expected)
        # read as left-padded, the same rows would be decoded from their first unmasked token: shifted ends
        left = treecredit.step_ends_from_text(ids, trainer._text_tokenizer(), PATTERN, response_mask=mask,
                                              padding_side="left")
        assert not torch.equal(torch.as_tensor(left).bool(), expected)
    generated = trainer.generated[0]
    ids, mask = generated["completion_ids"], header_and_spy[0][1]
    rewards = torch.tensor(count_a_after_header(ids.tolist()))  # padding is <pad>, never 'a'; the header 'h'
    assert rewards.std() > 0, "no reward spread: weak test"
    groups = torch.arange(ids.shape[0]) // NUM_GENERATIONS
    expected = treecredit.compute_advantages("tempo", response_ids=ids, response_mask=mask, rewards=rewards,
                                             group_ids=groups, padding_side="right",
                                             step_ends=_expected_ends(ids, mask))
    torch.testing.assert_close(generated["advantages"], expected)
    assert generated["advantages"][:, :2].abs().sum() == 0  # the header is masked: advantage 0


def count_a_after_header(completion_ids, **kwargs):
    """Reward: the 'a' tokens of a completion after its first two (which the header replaces once scored)."""
    return [float(sum(token == A_ID for token in ids[2:])) for ids in completion_ids]


def _train_with_pattern(tmp_path):
    import datasets
    from trl import GRPOConfig

    torch.set_num_threads(1)
    tokenizer = _tokenizer()
    dataset = datasets.Dataset.from_dict({"prompt": ["1+2=", "ab", "3+4=", "ba"]})
    args = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, bf16=False, per_device_train_batch_size=8,
                      num_generations=NUM_GENERATIONS, max_completion_length=8, max_steps=1, learning_rate=1e-3,
                      beta=0.0, report_to="none", save_strategy="no", logging_steps=1, seed=0, temperature=1.5,
                      dataloader_num_workers=0)
    trainer = RecordingTrainer(model=_tiny_model(tokenizer), reward_funcs=count_a_after_header, args=args,
                               train_dataset=dataset, processing_class=tokenizer, estimator="tempo",
                               step_pattern=PATTERN)
    trainer.train()
    return trainer
