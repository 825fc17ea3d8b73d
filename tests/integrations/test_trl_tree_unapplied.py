"""``sampler="tree"`` refuses, when the trainer is built, TRL settings it would otherwise drop without a word
(review39 1-4): ``generation_kwargs`` and ``vllm_structured_outputs_regex`` (TRL applies them to its own generation,
the tree sampler draws from temperature and top_p only), a ``rollout_func`` (TRL then calls it instead of its own
generation, so no tree grows), continuous batching under TRL 1.16's name ``use_transformers_continuous_batching``
(only the deprecated ``use_transformers_paged`` was refused), and a vision-language model (the trees grow from the
prompts' text while TRL scores them with the images). Until 2026-12-03 each was accepted and trained on other
completions than the settings asked for."""

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
trl = pytest.importorskip("trl")

sys.path.insert(0, str(Path(__file__).parent))

from test_trl import _tiny_model, _tokenizer, count_a  # noqa: E402
from test_trl_tree import _args  # noqa: E402

from treecredit.integrations.trl import TreeCreditGRPOTrainer  # noqa: E402


@pytest.fixture
def trl_init(monkeypatch):
    """GRPOTrainer.__init__ replaced by a recorder (no model loaded); ``vlm`` sets TRL's ``_is_vlm``."""
    calls: list = []

    def init(self, *args, **kwargs):
        calls.append(kwargs)
        self._is_vlm = getattr(init, "vlm", False)

    monkeypatch.setattr(trl.GRPOTrainer, "__init__", init)
    return init


def _build(tmp_path, args=None, **kwargs):
    return TreeCreditGRPOTrainer(model=_tiny_model(_tokenizer()), reward_funcs=count_a,
                                 args=args or _args(tmp_path), **{"processing_class": _tokenizer(), **kwargs})


def _rollout(prompts, trainer):
    return {"prompt_ids": [], "completion_ids": [], "logprobs": []}


@pytest.mark.parametrize("settings, kwargs, argument", [
    ({"generation_kwargs": {"top_k": 1}}, {}, "generation_kwargs"),
    ({"generation_kwargs": {"stop": ["</answer>"]}}, {}, "generation_kwargs"),
    ({"vllm_structured_outputs_regex": r"\d+"}, {}, "vllm_structured_outputs_regex"),
    ({"use_transformers_continuous_batching": True}, {}, "sampler"),
    ({}, {"rollout_func": _rollout}, "rollout_func"),
])
def test_a_setting_the_tree_sampler_would_drop_is_refused_naming_it(tmp_path, trl_init, settings, kwargs, argument):
    args = _args(tmp_path, **settings)
    with pytest.raises(ValueError, match=rf"^{argument}: .*Fix: .*sampler='iid'"):
        _build(tmp_path, args=args, estimator="tempo", sampler="tree", **kwargs)
    _build(tmp_path, args=args, estimator="tempo", sampler="iid", **kwargs)  # TRL's own generation applies them


def test_a_vision_language_model_is_refused_with_the_tree_sampler(tmp_path, trl_init):
    from transformers import ProcessorMixin

    class Processor(ProcessorMixin):
        attributes: list = []

        def __init__(self):
            pass

    message = r"^sampler: 'tree' grows completions from the prompts' text alone, and this is a vision-language model"
    with pytest.raises(ValueError, match=message):  # given: refused before TRL loads anything
        _build(tmp_path, estimator="tempo", sampler="tree", processing_class=Processor())
    trl_init.vlm = True  # a processor TRL loaded itself, from the model id
    with pytest.raises(ValueError, match=message):
        _build(tmp_path, estimator="tempo", sampler="tree")
    _build(tmp_path, estimator="tempo", sampler="iid")


def test_images_reaching_the_tree_generation_are_refused_not_dropped(tmp_path, trl_init):
    trainer = _build(tmp_path, estimator="tempo", sampler="tree")
    trainer.use_vllm = False
    trainer._tree_completions = lambda *args: pytest.fail("a tree grown without the images")
    for images, fields in ((["an image"], {}), (None, {"pixel_values": torch.zeros(1, 3, 4, 4)})):
        with pytest.raises(ValueError, match="^sampler: 'tree' grows completions from the prompts' text alone"):
            trainer._generate_single_turn([[1, 2]], images, fields, 4)
