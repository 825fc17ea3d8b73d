"""step_ends_from_text on real BPE tokenizers trained here (byte-level like GPT-2/SmolLM2, and Metaspace
like SentencePiece): the marked tokens are those by which the decoded prefix first holds each match."""

import re
import warnings

import numpy as np
import pytest

import treecredit
from treecredit.step_text import (
    first_response_text,
    step_ends_from_text,
    step_pattern_regex,
    token_end_offsets,
    warn_if_no_steps,
)

pytest.importorskip("tokenizers")
transformers = pytest.importorskip("transformers")

from text_tokenizers import byte_level_bpe as _byte_level_bpe  # noqa: E402
from text_tokenizers import metaspace_bpe as _metaspace_bpe  # noqa: E402

TEXTS = [
    "Step 1: add 3 and 4.\n\nStep 2: the sum is 7.\n\n",
    "café\n\n🙂 ok\n\nRésumé ✓",
    "x = 12 + 30\n\n\n\ny = x * 2\n\n",
    "no delimiter here",
]


def _oracle(ids, decode, regex):
    """Mark, for each match of the full text, the first t with decode(ids[:t+1]) holding the whole match."""
    text = decode(ids)
    marked = np.zeros(len(ids), dtype=bool)
    for match in regex.finditer(text):
        if match.end() == match.start():
            continue
        for t in range(len(ids)):
            if decode(ids[: t + 1]).startswith(text[: match.end()]):
                marked[t] = True
                break
    return marked


def _batch(tokenizer, texts):
    rows = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    T = max(map(len, rows)) + 2
    ids = np.full((len(rows), T), tokenizer.pad_token_id)
    mask = np.zeros((len(rows), T), dtype=np.int64)
    for i, row in enumerate(rows):
        ids[i, : len(row)], mask[i, : len(row)] = row, 1
    return rows, ids, mask


@pytest.mark.parametrize("build", [_byte_level_bpe, _metaspace_bpe])
@pytest.mark.parametrize("pattern", ["\n\n", re.compile(r"\n\n+"), re.compile(r"[0-9]+"), ["é", "✓"]])
def test_marks_the_tokens_that_decoding_shows_closing_each_match(build, pattern):
    tokenizer = build()

    def decode(ids):
        return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    regex = pattern if isinstance(pattern, re.Pattern) else re.compile("|".join(map(re.escape, np.atleast_1d(pattern))))
    rows, ids, mask = _batch(tokenizer, TEXTS)
    ends = step_ends_from_text(ids, tokenizer, pattern, response_mask=mask)
    assert ends.dtype == bool and ends.shape == ids.shape
    for i, row in enumerate(rows):
        np.testing.assert_array_equal(ends[i, : len(row)], _oracle(row, decode, regex), err_msg=repr(TEXTS[i]))
        assert not ends[i, len(row):].any()
    assert ends.sum() > 0


def test_the_bpe_trap_ids_of_the_delimiter_alone_miss_it_inside_a_text():
    # The reason this helper exists: "\n\n" is one id at the end of a text and two ids inside it.
    tokenizer = _byte_level_bpe()
    alone = tokenizer("\n\n", add_special_tokens=False)["input_ids"]
    inside = tokenizer("a.\n\nb", add_special_tokens=False)["input_ids"]
    assert len(alone) == 1 and alone[0] not in inside  # the trap is real for this tokenizer
    _, ids, mask = _batch(tokenizer, ["a.\n\nb.\n\nc"])
    from_ids = treecredit.steps._delimiter_ends(ids, alone)
    from_text = step_ends_from_text(ids, tokenizer, "\n\n", response_mask=mask)
    assert from_ids.sum() == 0 and from_text.sum() == 2


def test_unfinished_characters_emit_on_the_token_that_completes_them():
    tokenizer = _byte_level_bpe()
    ids = tokenizer("🙂", add_special_tokens=False)["input_ids"]
    assert len(ids) > 1  # split over byte tokens in this small vocabulary
    text, ends = token_end_offsets(ids, lambda x: tokenizer.decode(x))
    assert text == "🙂" and ends[-1] == 1 and all(e == 0 for e in ends[:-1])


def test_a_plain_decode_object_and_torch_input():
    torch = pytest.importorskip("torch")

    class Chars:
        def decode(self, ids):
            return "".join("ab|"[i] for i in ids)

    ids = torch.tensor([[0, 2, 1, 2, 0], [1, 1, 0, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]])
    ends = step_ends_from_text(ids, Chars(), "|", response_mask=mask)
    np.testing.assert_array_equal(ends, [[0, 1, 0, 1, 0], [0, 0, 0, 0, 0]])
    # without a mask every token is text
    assert step_ends_from_text([[2, 2]], Chars(), "|").tolist() == [[True, True]]


def test_bad_input_is_refused_with_the_fix():
    with pytest.raises(ValueError, match="pattern: "):
        step_ends_from_text([[1]], _byte_level_bpe(), "")
    with pytest.raises(ValueError, match="tokenizer: "):
        step_ends_from_text([[1]], object(), "x")
    with pytest.raises(ValueError, match="response_ids: "):
        step_ends_from_text([1, 2], _byte_level_bpe(), "x")
    with pytest.raises(ValueError, match="response_mask: "):
        step_ends_from_text([[1, 2]], _byte_level_bpe(), "x", response_mask=[[1]])


@pytest.mark.parametrize("pattern", [re.compile(""), re.compile(r"\n*"), re.compile(r"(?m)$")])
def test_a_regex_that_matches_the_empty_string_is_refused_naming_the_fix(pattern):
    with pytest.raises(ValueError, match=r"^pattern: .*matches the empty string.*Fix: make it match at least one"):
        step_ends_from_text([[1]], _byte_level_bpe(), pattern)
    with pytest.raises(ValueError, match=r"^step_regex: .*matches the empty string"):
        step_pattern_regex(pattern, "step_regex")
    assert step_pattern_regex(re.compile(r"\n\n+")).pattern == r"\n\n+"


def test_a_pattern_from_text_gets_advice_about_the_pattern_not_token_ids():
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]])
    only_last = np.array([[0, 0, 1, 0], [0, 1, 0, 0]])
    with pytest.warns(UserWarning) as said:
        assert warn_if_no_steps("tempo", only_last, mask, source="step_pattern 'Step'", pattern="Step",
                                sample=lambda: "x" * 100 + "1+2=3\nso 3")
    message = str(said[0].message)
    assert "BPE" not in message and "token ids" not in message
    assert "The pattern 'Step' matched nowhere" in message and "looser pattern" in message
    assert "the first one ends with ...'" + "x" * 70 + "1+2=3\\nso 3'" in message  # its last 80 characters

    class Chars:
        def decode(self, ids):
            return "".join("ab|"[i] for i in ids)

    assert first_response_text([[0, 0, 0], [1, 2, 0]], Chars(), [[0, 0, 0], [1, 1, 0]]) == "b|"
    assert first_response_text([[2, 0, 1]], Chars()) == "|ab"


def test_warns_only_when_a_step_estimator_gets_no_interior_step():
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]])
    only_last = np.array([[0, 0, 1, 0], [0, 1, 0, 0]])
    with pytest.warns(UserWarning, match="no step boundary from pattern"):
        assert warn_if_no_steps("tempo", only_last, mask, source="pattern '\\n\\n'")
    with pytest.warns(UserWarning, match=r"check the pattern\.$"):
        assert warn_if_no_steps("treerpo", None)
    with pytest.warns(UserWarning, match=r"one step\. Fix: pass --task-option delimiter=TEXT\.$") as said:
        assert warn_if_no_steps("treerpo", None, fix="pass --task-option delimiter=TEXT")
    assert "BPE" not in str(said[0].message)  # a host with its own fix finds steps in text already
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not warn_if_no_steps("tempo", np.array([[1, 0, 1, 0], [0, 1, 0, 0]]), mask)
        assert not warn_if_no_steps("grpo", only_last, mask)  # no steps in grpo


@pytest.mark.parametrize("build", [_byte_level_bpe, _metaspace_bpe])
def test_incremental_offsets_equal_those_of_decoding_every_prefix(build):
    from treecredit.step_text import _exact_end_offsets

    tokenizer = build()
    for text in TEXTS:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        decoded, fast = token_end_offsets(ids, tokenizer.decode)
        assert fast == _exact_end_offsets(ids, tokenizer.decode, decoded)


def test_row_lengths_end_one_past_each_rows_last_unmasked_token():
    from treecredit.token_rows import row_lengths

    mask = np.array([[1, 0, 1, 0], [0, 0, 0, 0], [1, 1, 1, 1]])  # a masked token inside row 0 (tool output)
    assert row_lengths(mask).tolist() == [3, 0, 4]
    assert row_lengths(mask.tolist()).tolist() == [3, 0, 4]
    assert row_lengths(None, (2, 5)).tolist() == [5, 5]
    assert row_lengths(np.zeros((2, 0))).tolist() == [0, 0]


def test_arguments_in_the_wrong_form_get_a_short_error_with_the_fix():
    tokenizer = _byte_level_bpe()
    ids = [[1, 2], [3, 4]]
    with pytest.raises(ValueError) as swapped:
        step_ends_from_text(ids, "\n\n", tokenizer)
    message = str(swapped.value)
    assert message.startswith(f"pattern: is a {type(tokenizer).__name__}, not text: the tokenizer and the pattern "
                              "look swapped. Fix: pass (response_ids, tokenizer, pattern)"), message
    assert len(message) < 300
    with pytest.raises(ValueError, match=r"^response_ids: holds text, not token ids\. Fix: pass token ids, not text"):
        step_ends_from_text(["a text", "another"], tokenizer, "\n\n")
    with pytest.raises(ValueError, match=r"^response_ids: has rows of different lengths \(1 to 3 ids\)\. Fix: "
                                         r"right-pad them to one length and set response_mask to 0 on the padding"):
        step_ends_from_text([[1, 2, 3], [4]], tokenizer, "\n\n")
    with pytest.raises(ValueError) as odd:  # any other object: its repr cut short
        step_ends_from_text(ids, tokenizer, list(range(1000)))
    assert str(odd.value).startswith("pattern: is [0, 1, 2") and len(str(odd.value)) < 300


def _ragged_object_array():
    rows = np.empty(2, dtype=object)
    rows[0], rows[1] = [1, 2, 3, 4], [5]
    return rows


@pytest.mark.parametrize("make", [
    lambda: [__import__("torch").tensor([1, 2, 3, 4]), __import__("torch").tensor([5])],
    lambda: [np.array([1, 2, 3, 4]), np.array([5])],
    _ragged_object_array,
])
def test_ragged_tensor_rows_and_object_arrays_get_the_ragged_list_message(make):
    with pytest.raises(ValueError, match=r"^response_ids: has rows of different lengths \(1 to 4 ids\)\. Fix: "
                                         r"right-pad them to one length and set response_mask to 0 on the padding"):
        step_ends_from_text(make(), _byte_level_bpe(), "\n\n")


def test_a_whole_tokenizer_output_is_refused_naming_its_input_ids():
    tokenizer = _byte_level_bpe()
    encoding = tokenizer(["a\n\nb", "c"], padding=True, add_special_tokens=False)
    with pytest.raises(ValueError, match=r"^response_ids: is a BatchEncoding with keys \['input_ids', "
                                         r"'attention_mask'\].*Fix: pass its \['input_ids'\] as response_ids, and "
                                         r"its \['attention_mask'\] as response_mask"):
        step_ends_from_text(encoding, tokenizer, "\n\n")
    ends = step_ends_from_text(encoding["input_ids"], tokenizer, "\n\n", response_mask=encoding["attention_mask"])
    assert ends.shape == np.asarray(encoding["input_ids"]).shape and ends[0].sum() == 1


def test_a_host_gives_its_own_way_to_give_steps_as_text():
    from treecredit.step_text import host_step_text

    no_steps = np.zeros((2, 4), dtype=bool)
    with host_step_text("pass step_pattern='\\n\\n' to the host"), pytest.warns(UserWarning) as inside:
        warn_if_no_steps("tempo", no_steps, source="delimiter [9]")
    assert "give the steps as text (pass step_pattern='\\n\\n' to the host)" in str(inside[0].message)
    with pytest.warns(UserWarning, match=r"treecredit\.step_ends_from_text\(ids, tokenizer"):  # outside: the default
        warn_if_no_steps("tempo", no_steps, source="delimiter [9]")


def test_step_ends_a_host_checked_are_warned_about_once_whichever_rows_it_passes_on():
    from treecredit.step_text import checked_by_host

    mask = np.ones((4, 3), dtype=int)
    none = np.zeros((4, 3), dtype=bool)
    some = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [1, 1, 0]], dtype=bool)  # four different rows
    assert not warn_if_no_steps("tempo", some, mask, source="pattern 'x'")  # a step: no warning, still recorded
    assert checked_by_host(some[[0, 2, 3]])  # rows left out, in order: the same batch
    assert not checked_by_host(some)  # the record is used once
    warn_if_no_steps("tempo", some, mask, source="pattern 'x'")
    assert not checked_by_host(some[[2, 1]])  # reordered rows are another batch
    warn_if_no_steps("tempo", some, mask, source="pattern 'x'")
    assert not checked_by_host(some[:, :2])  # another width
    warn_if_no_steps("tempo", some, mask, source="pattern 'x'")
    assert not checked_by_host(none)  # other rows


def test_ids_the_tokenizer_cannot_decode_are_refused_naming_response_ids():
    from hf_tiny import local_tokenizer

    tokenizer = local_tokenizer()  # 52 ids
    with pytest.raises(ValueError, match=r"^response_ids: holds the id 500, beyond the tokenizer's vocabulary of 52 "
                                         r"ids \(0 to 51\), which decodes to no text\. Fix: pass the tokenizer of the "
                                         r"model that wrote response_ids"):
        step_ends_from_text([[5, 6, 500, 7]], tokenizer, "\n")
    with pytest.raises(ValueError, match=r"^response_ids: holds the negative id -3 at row 0, column 1, "
                                         r"before the row's last unmasked token"):
        step_ends_from_text([[5, -3, 7]], tokenizer, "\n")
    # beyond a row's length (padding, response_mask 0) nothing is decoded, so nothing is refused
    assert not step_ends_from_text([[5, 6, 500]], tokenizer, "\n", response_mask=[[1, 1, 0]]).any()
    # a model with more embedding rows than the tokenizer has tokens: its size is the bound
    assert not step_ends_from_text([[5, 6, 60]], tokenizer, "\n", vocab_size=64).any()
    with pytest.raises(ValueError, match=r"^vocab_size: is 0"):
        step_ends_from_text([[5]], tokenizer, "\n", vocab_size=0)


def test_a_raw_tokenizers_tokenizer_keeps_special_tokens_as_the_hf_one_does():
    # was: a raw tokenizers.Tokenizer decoded with its default skip_special_tokens=True, so '<eos>' matched nothing
    hf = _byte_level_bpe()
    raw = hf.backend_tokenizer
    ids = [raw.encode("Step 1.<eos>Step 2.<eos>x").ids, raw.encode("Step 1.\n\nStep 2.<eos>").ids]
    T = max(map(len, ids))
    arr = np.zeros((2, T), dtype=np.int64)
    mask = np.zeros((2, T), dtype=np.int64)
    for i, row in enumerate(ids):
        arr[i, : len(row)], mask[i, : len(row)] = row, 1
    eos = raw.token_to_id("<eos>")
    got = step_ends_from_text(arr, raw, "<eos>", response_mask=mask)
    np.testing.assert_array_equal(got, (arr == eos) & (mask == 1))
    assert got.sum() == 3
    np.testing.assert_array_equal(got, step_ends_from_text(arr, hf, "<eos>", response_mask=mask))
    assert first_response_text(arr, raw, mask).count("<eos>") == 2


def test_padding_side_left_as_compute_advantages_takes_it():
    # was: no padding_side: a left-padded batch that compute_advantages(padding_side="left") accepts was refused
    class Chars:
        def decode(self, ids):
            return "".join(chr(97 + int(i)) for i in ids)

    ids = np.array([[-100, -100, 5, 6, 7], [-100, 5, 6, 8, 9]])
    mask = (ids >= 0).astype(int)
    with pytest.raises(ValueError, match="^response_mask: looks left-padded.*padding_side='left'"):
        step_ends_from_text(ids, Chars(), "fg", response_mask=mask)
    ends = step_ends_from_text(ids, Chars(), "fg", response_mask=mask, padding_side="left")
    assert ends.tolist() == [[False, False, False, True, False], [False, False, True, False, False]]
    right = step_ends_from_text(np.where(ids < 0, 0, ids), Chars(), "fg", response_mask=mask, padding_side="right")
    assert right.tolist() == ends.tolist()  # positions are the caller's either way
    adv = treecredit.compute_advantages("tempo", response_ids=ids, response_mask=mask, rewards=[1.0, 0.0],
                                        group_ids=[0, 0], padding_side="left", step_ends=ends)
    assert adv.shape == ids.shape
    with pytest.raises(ValueError, match="^padding_side: "):
        step_ends_from_text(ids, Chars(), "fg", response_mask=mask, padding_side="middle")


def test_padding_side_left_without_a_mask_is_refused_naming_response_mask():
    # was: silently ignored: without a mask there is nothing to find the padding from, and the rows were read
    # as right-padded (step ends at the wrong positions, or a decode error on the pad ids)
    class Chars:
        def decode(self, ids):
            return "".join(chr(97 + int(i)) for i in ids)

    ids = np.array([[0, 0, 5, 6, 7], [0, 5, 6, 8, 9]])
    with pytest.raises(ValueError, match="^padding_side: is 'left' but no response_mask.*Fix: pass response_mask="):
        step_ends_from_text(ids, Chars(), "fg", padding_side="left")
    assert step_ends_from_text(ids, Chars(), "fg", padding_side="right").any()


def test_returns_the_type_of_response_ids_as_compute_advantages_does():
    # was: NumPy for torch input, while compute_advantages returns torch for torch input
    torch = pytest.importorskip("torch")

    class Chars:
        def decode(self, ids):
            return "".join(chr(97 + int(i)) for i in ids)

    ids = [[0, 1, 2, 0, 1]]
    got = step_ends_from_text(torch.tensor(ids), Chars(), "ab")
    assert isinstance(got, torch.Tensor) and got.dtype == torch.bool and got.tolist() == [[0, 1, 0, 0, 1]]
    assert isinstance(step_ends_from_text(np.array(ids), Chars(), "ab"), np.ndarray)
    assert isinstance(step_ends_from_text(ids, Chars(), "ab"), np.ndarray)
