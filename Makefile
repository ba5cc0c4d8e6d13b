# The entry points of README: `make run`, `make test` and, in a fresh clone, `make pull`. Each
# installs the locked environment into .venv first (only when the lock file changed since the last
# install), with bytecode compiled: the environment sets PYTHONDONTWRITEBYTECODE, and every job
# would otherwise recompile torch and timm (measured: 8.3 s instead of 3.4 s per job start).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
UV_VERSION := 0.13.9
export PATH := $(BIN):$(PATH)

.PHONY: install run test lint bench lock pull slurm-profile

install: $(VENV)/.installed

$(VENV)/.installed: requirements.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)
	$(BIN)/uv pip sync --quiet --compile-bytecode --python $(BIN)/python requirements.lock
	$(BIN)/uv pip install --quiet --python $(BIN)/python --no-deps -e .
	touch $@

run: install
	snakemake

# `snakemake --profile slurm` as typed: installs workflow/profiles/slurm as the global profile
# `slurm` (~/.config/snakemake/slurm), keeping one that exists.
slurm-profile:
	scripts/install-slurm-profile

test: install
	pytest

# A fresh clone: check the DVC remote (one line on what to configure when it is not there), dvc pull,
# then scripts/dvc-pulled (Snakemake agrees nothing is to be done). REMOTE=name pulls from another.
pull: install
	scripts/dvc-pull $(if $(REMOTE),-r $(REMOTE))

# ruff (formatter and linter, settings in pyproject.toml), then snakemake --lint with all findings
# but the deliberate one (no conda/container per rule): scripts/lint. CI runs this (.ci/run).
lint: install
	ruff format --check .
	ruff check .
	python scripts/lint

# Ratios from one run each; harmonization_cost, curriculum_auroc, eval_cost and study_cost read the
# default pipeline's outputs (run `make run` first; study_cost: the study's jobs against 8b3bbe4's
# code). gpu_pretrain times steps on a GPU; here it only counts.
bench: install
	python benchmarks/feature_throughput.py
	python benchmarks/harmonization_cost.py
	python benchmarks/curriculum_auroc.py
	python benchmarks/eval_cost.py
	python benchmarks/study_cost.py --baseline 8b3bbe4
	python benchmarks/gpu_pretrain.py --count-only --out benchmarks/results/gpu_pretrain_flops_cpu.json
	python benchmarks/mae_cost.py
	python benchmarks/fault_injection.py

# Re-resolve the pins after editing pyproject.toml (Linux x86_64, Python 3.11: CI and the GPU nodes).
lock:
	$(BIN)/uv pip compile pyproject.toml --extra test --python-version 3.11 \
		--python-platform x86_64-manylinux_2_28 -o requirements.lock
