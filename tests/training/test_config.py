import json

import pytest

from treecredit.training.config import TrainConfig, field_docs, load_config_file


@pytest.mark.parametrize("field, value, fix", [
    ("group_size", 1, "--group-size 2 or more"),
    ("estimator", "nope", "use one of"),
    ("task", "chess", "pass one of"),
    ("steps", 0, "--steps N"),
    ("minibatches", 10_000, "fewer minibatches"),
    ("n_embd", 30, "multiple of n_head"),
    ("temperature", 0.0, "1.0"),
    ("top_p", 1.5, "pass 1.0"),
    ("lr", -1.0, "--lr"),
    ("clip_low", 1.5, "0.2"),
    ("kl_coef", -0.1, "pass 0"),
    ("loss_aggregation", "sum", "pass one of"),
    ("eval_problems", 0, "--eval-problems 1"),
])
def test_bad_values_say_how_to_fix(field, value, fix):
    with pytest.raises(ValueError, match=r"Fix: ") as info:
        TrainConfig(**{field: value})
    message = str(info.value)
    assert message.startswith(field if field != "task" else "task") and fix in message


def test_bad_task_options_fail_with_the_task_message():
    # the task's own message, after the field and flag that set the option
    with pytest.raises(ValueError, match=r"^task_options: --task-option min_operators=0 \(task 'arithmetic'\): "
                                         "min_operators: .*Fix"):
        TrainConfig(task_options={"min_operators": 0})


def test_every_field_has_a_docstring():
    from dataclasses import fields

    docs = field_docs()
    assert all(docs.get(f.name) for f in fields(TrainConfig)), set(f.name for f in fields(TrainConfig)) - set(docs)


def test_config_files(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"group_size": 4, "task": "countdown", "task_options": {}}))
    (tmp_path / "c.toml").write_text('group_size = 4\nestimator = "rloo"\n')
    assert load_config_file(tmp_path / "c.json") == {"group_size": 4, "task": "countdown", "task_options": {}}
    assert TrainConfig(**load_config_file(tmp_path / "c.toml")).estimator == "rloo"
    (tmp_path / "bad.json").write_text(json.dumps({"group_sise": 4}))
    with pytest.raises(ValueError, match=r"^config: '.*bad.json' has unknown field.*group_sise.*did you mean "
                                         r"group_sise → group_size\?.*Fix"):
        load_config_file(tmp_path / "bad.json")
    (tmp_path / "trl.json").write_text(json.dumps({"learning_rate": 1e-5, "num_generations": 8}))
    with pytest.raises(ValueError, match=r"did you mean learning_rate → lr, num_generations → group_size\?"):
        load_config_file(tmp_path / "trl.json")
    for name, text, kind in (("broken.json", '{"lr": 1e-4,}', "JSON"), ("broken.toml", "lr = = 1", "TOML")):
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match=rf"^config: '.*{name}' is not valid {kind}: .*line 1.*Fix"):
            load_config_file(tmp_path / name)
    with pytest.raises(ValueError, match="^config: .*does not exist"):
        load_config_file(tmp_path / "missing.json")
    (tmp_path / "latin.json").write_bytes(b'{"task": "caf\xe9"}')  # was: a UnicodeDecodeError traceback
    with pytest.raises(ValueError, match=r"^config: '.*latin.json' is not valid JSON: 'utf-8' codec can't decode"):
        load_config_file(tmp_path / "latin.json")


def test_one_helper_resolves_the_paths_a_config_stores_and_a_resume_compares(tmp_path, monkeypatch):
    from pathlib import Path

    from treecredit.training import config as config_module
    from treecredit.training.config import resolved_path
    from treecredit.training.preflight import _comparable

    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert resolved_path("~/link/data.jsonl") == str((tmp_path / "real" / "data.jsonl").resolve())
    monkeypatch.chdir(tmp_path)
    assert resolved_path("link") == str(Path(tmp_path / "real").resolve())
    seen = []
    monkeypatch.setattr(config_module, "resolved_path", lambda p: seen.append(p) or p)
    _comparable({"dataset": "a.jsonl", "task_options": {"held_out_path": "b.jsonl"}})
    assert seen == ["a.jsonl", "b.jsonl"]


def test_a_relative_out_is_stored_absolute_so_a_resume_works_from_another_folder(tmp_path, monkeypatch):
    import json

    from treecredit.cli import main

    (tmp_path / "here").mkdir()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "here")
    tiny = ["--n-layer", "1", "--n-head", "1", "--n-embd", "16", "--warm-start-steps", "0", "--prompts-per-step", "2",
            "--group-size", "2", "--max-new-tokens", "4", "--eval-problems", "4", "--no-progress",
            "--cache-dir", str(tmp_path / "cache")]
    assert main(["train", "--steps", "1", "--out", "runs/mine", *tiny]) == 0
    saved = json.loads((tmp_path / "here" / "runs" / "mine" / "config.json").read_text())
    assert saved["out"] == str((tmp_path / "here" / "runs" / "mine").resolve())
    monkeypatch.chdir(tmp_path / "elsewhere")
    config = str(tmp_path / "here" / "runs" / "mine" / "config.json")
    assert main(["train", "--config", config, "--resume", "--steps", "2"]) == 0
    records = [json.loads(line) for line in (tmp_path / "here" / "runs" / "mine" / "metrics.jsonl").open()]
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2]
    assert not (tmp_path / "elsewhere" / "runs").exists()


def test_a_relative_model_folder_is_stored_absolute_so_resume_and_export_work_from_another_folder(tmp_path,
                                                                                                 monkeypatch):
    import json

    (tmp_path / "work" / "tiny-model").mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "tokenizer.json"):  # a model folder's files (not read)
        (tmp_path / "work" / "tiny-model" / name).touch()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "work")
    config = TrainConfig(model="tiny-model", out=str(tmp_path / "run"), progress=False)
    assert config.model == str((tmp_path / "work" / "tiny-model").resolve())
    assert TrainConfig(model="gpt").model == "gpt"  # a name, not a path: kept as given
    monkeypatch.chdir(tmp_path / "elsewhere")
    assert TrainConfig(**json.loads(json.dumps(config.to_dict()))).model == config.model


FLOAT_FIELDS = [f.name for f in __import__("dataclasses").fields(TrainConfig)
                if f.type in ("float", float, "float | None")]


@pytest.mark.parametrize("field", FLOAT_FIELDS)
@pytest.mark.parametrize("value", ["abc", True, float("nan"), float("inf"), None])
def test_every_float_setting_refuses_a_non_number_by_name(field, value):
    if value is None and field == "lr":
        assert TrainConfig(lr=None).lr == 5e-5  # unset: chosen by the model (test_the_default_lr_...)
        return
    # before: "lr": "abc" reached `"abc" > 0` → TypeError, a traceback without the field's name
    with pytest.raises(ValueError, match=rf"^{field}: is .*, must be a finite number\. Fix: pass a number, "
                                         rf"e\.g\. --{field.replace('_', '-')} "):
        TrainConfig(**{field: value})


def test_float_settings_accept_an_integer():
    assert len(FLOAT_FIELDS) >= 12  # the check reads the annotations: it must find the float fields
    config = TrainConfig(lr=1, temperature=2, max_grad_norm=0)
    assert (config.lr, config.temperature, config.max_grad_norm) == (1, 2, 0)


def test_a_config_file_and_a_compare_arm_name_the_non_numeric_float(tmp_path):
    from treecredit.training.arms import arm_config

    path = tmp_path / "c.json"
    path.write_text(json.dumps({"lr": "abc"}))
    with pytest.raises(ValueError, match=r"^lr: is 'abc', must be a finite number"):
        TrainConfig(**load_config_file(path))
    with pytest.raises(ValueError, match=r"^temperature \(arm 'grpo\[temperature=hot\]'\): is 'hot', must be a "
                                         r"finite number"):
        arm_config(TrainConfig(), "grpo[temperature=hot]")


@pytest.mark.parametrize("settings, match", [
    ({"model": "some/folder", "n_layer": 3}, r"^n_layer: is for the small GPT; --model \S+ would ignore --n-layer"),
    ({"model": "some/folder", "warm_start_steps": 50}, r"^warm_start_steps: .*Fix: drop --warm-start-steps \(its "
                                                       r"warm start is --hf-warm-start-steps N\)"),
    ({"model": "some/folder", "max_len": 128}, r"^max_len: .*max_position_embeddings"),
    ({"lora_rank": 4}, r"^lora_rank: is for a Hugging Face --model; the small GPT would ignore --lora-rank"),
    ({"hf_warm_start_steps": 5}, r"^hf_warm_start_steps: is for a Hugging Face --model"),
    ({"hf_warm_start_lr": 1e-5}, r"^hf_warm_start_lr: .*Fix: drop --hf-warm-start-lr \(the small GPT: "
                                 r"--warm-start-steps N\)"),
    ({"chat_template": "on"}, r"^chat_template: is 'on', but the small GPT has no chat template"),
])
def test_a_setting_the_runs_model_would_ignore_is_refused_by_name(settings, match, monkeypatch):
    """A trial ran --lora-rank, --chat-template on with the small GPT and --n-layer, --warm-start-steps with a
    Hugging Face model without a word; only --hf-warm-start-steps with the GPT was refused."""
    from treecredit.models import hf_load
    from treecredit.training.config import TrainConfig

    monkeypatch.setattr(hf_load, "check_model_argument", lambda model, gguf_file: None)  # no real folder needed
    with pytest.raises(ValueError, match=match):
        TrainConfig(**settings)
    TrainConfig(model="some/folder", lora_rank=4, hf_warm_start_steps=5, chat_template="on", warm_start_seed=3)
    TrainConfig(n_layer=3, warm_start_steps=50, max_len=128, chat_template="off")


def test_the_default_lr_depends_on_what_is_trained(monkeypatch):
    """Unset, ``lr`` is 5e-5 for the small GPT and LoRA adapters, 5e-6 for a Hugging Face model trained whole
    (5e-5 undid a warm start on SmolLM2-135M); given, it is kept."""
    from treecredit.models import hf_load
    from treecredit.training import train_cli

    monkeypatch.setattr(hf_load, "check_model_argument", lambda *a: None)  # no model folder needed here
    assert TrainConfig().lr == 5e-5
    assert TrainConfig(model="some/model", chat_template="off").lr == 5e-6
    assert TrainConfig(model="some/model", chat_template="off", lora_rank=8).lr == 5e-5
    assert TrainConfig(model="some/model", chat_template="off", lr=1e-4).lr == 1e-4
    parser = __import__("argparse").ArgumentParser()
    train_cli.add_arguments(parser)
    assert train_cli.config_from_args(parser.parse_args(["--lr", "3e-4"])).lr == 3e-4
    assert "5e-6 for a Hugging Face --model trained whole" in " ".join(parser.format_help().split())


def test_a_resume_without_lr_keeps_the_lr_the_run_started_with(tmp_path, monkeypatch):
    """A run started when the default lr was another value (or on another model family's default) resumes
    with its own lr when --lr is not given; an explicit --lr that differs is still refused."""
    from treecredit.models import hf_load
    from treecredit.training.preflight import check_same_settings

    monkeypatch.setattr(hf_load, "check_model_argument", lambda *a: None)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(TrainConfig(model="some/model", chat_template="off", lr=5e-5).to_dict()))
    unset = TrainConfig(model="some/model", chat_template="off")
    assert unset.lr == 5e-6 and not unset.was_given("lr")
    check_same_settings(path, unset)
    assert unset.lr == 5e-5
    given = TrainConfig(model="some/model", chat_template="off", lr=5e-6, given=frozenset({"lr"}))
    with pytest.raises(ValueError, match=r"^resume: .*lr: saved 5e-05, now 5e-06"):
        check_same_settings(path, given)


def test_a_replaced_config_keeps_what_was_given_and_what_the_run_chose():
    """compare makes each run's config with replaced(): the lr the run chose stays chosen (so a resume keeps the
    saved run's), the fields given stay given (dataclasses.replace alone forgets both)."""
    base = TrainConfig(given=frozenset({"eval_problems"}))
    run = base.replaced(seed=3)
    assert run.seed == 3 and not run.was_given("lr") and run.was_given("eval_problems") and run.was_given("seed")
    assert run.replaced(lr=1e-4).was_given("lr")


@pytest.mark.parametrize("flag, given, said", [
    ("--task-option", "min_operators=1e0", "task_options: --task-option min_operators=1e0 (task 'arithmetic'): "
                                           "min_operators: is 1.0"),
    ("--branching-option", "children=-2.0", "branching_options: --branching-option children=-2.0 (branching "
                                            "'fixed'): children: is -2.0"),
])
def test_an_option_error_shows_the_value_as_typed(tmp_path, capsys, flag, given, said):
    # was: its JSON reading (min_operators=1.0, children=-2.0 shown as typed only by chance)
    from treecredit.cli import main

    sampler = ["--sampler", "tree"] if flag == "--branching-option" else []
    assert main(["train", *sampler, flag, given, "--out", str(tmp_path / "run")]) == 2
    assert said in capsys.readouterr().err


def test_typed_option_texts_survive_copies_and_pickles():
    import copy
    import pickle
    from dataclasses import asdict

    from treecredit.training.config import option_flag_named
    from treecredit.training.config_values import TypedOptions, typed_value

    options = TypedOptions({"max_len": 1e9, "label": "x"}, {"max_len": "1e9"})
    for kept in (options.copy(), copy.deepcopy(options), pickle.loads(pickle.dumps(options))):
        assert kept == options and typed_value(kept, "max_len") == "1e9" and typed_value(kept, "label") == "'x'"
    assert asdict(TrainConfig(sampler_options=options))["sampler_options"] == {"max_len": 1e9, "label": "x"}
    with pytest.raises(ValueError, match=r"^sampler_options: --sampler-option max_len=1e9: max_len: is too big\.$"):
        with option_flag_named(options, "sampler_options", "--sampler-option", ""):
            raise ValueError("max_len: is too big.")
