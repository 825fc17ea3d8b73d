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
``scale_rewards`` and ``multi_objective_aggregation`` are not applied: the estimator normalises itself
(e.g. ``estimator_options={"norm_by_std": False}``).
"""

from __future__ import annotations

try:
    from trl import GRPOTrainer
except ImportError as error:  # the optional extra is missing
    raise ImportError("treecredit.integrations.trl needs TRL: pip install 'treecredit[trl]' (trl>=0.26).") from error

from treecredit.integrations._grpo_layout import completion_rewards, grouped_completion_advantages
from treecredit.registry import get_estimator


class TreeCreditGRPOTrainer(GRPOTrainer):
    """TRL's ``GRPOTrainer`` with treecredit per-token advantages (see the module docstring).

    Args:
        *args, **kwargs: as for ``trl.GRPOTrainer``.
        estimator: a token-level treecredit estimator name (``treecredit.estimators("token")``).
        estimator_options: its options, e.g. ``{"delimiter": [198]}`` for step-level estimators.
    """

    def __init__(self, *args, estimator: str, estimator_options: dict | None = None, **kwargs):
        self.estimator = estimator
        self.estimator_options = dict(estimator_options or {})
        get_estimator(estimator).check_options(self.estimator_options)
        self._rewards_per_func = None
        super().__init__(*args, **kwargs)

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._rewards_per_func = rewards_per_func  # (N_all, F), already gathered over processes
        return rewards_per_func

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        output["advantages"] = self._token_advantages(output)  # (B,) -> (B, T)
        return output

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
        advantages = grouped_completion_advantages(
            self.estimator,
            completion_ids=all_ids,
            completion_mask=all_mask,
            rewards=completion_rewards(rewards_per_func, self.reward_weights),
            num_generations=num_generations,
            **self.estimator_options,
        )
        start = accelerator.process_index * ids.shape[0]
        return advantages[start:start + ids.shape[0], : ids.shape[1]]
