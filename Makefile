# buzzwatch - `make help` lists the targets. `make run` and `make test` set everything up by themselves.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-dev

.DEFAULT_GOAL := help
.PHONY: help setup compile run test test-unit test-integration test-soak test-deploy dashboard example latency lint bench bench-scale bench-detect bench-nab bench-airline bench-detect-seeds bench-detect-why bench-outage bench-detect-calibration bench-detect-growth bench-score train clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[1m%-18s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

setup: $(STAMP) ## create .venv and install buzzwatch with its dev extra (broker, test tools)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

# The detection core as the image runs it: compiled by mypyc from the same sources (see setup.py)
# into a copy of the package under .run/compiled, rebuilt when a source changes; the source tree
# stays pure Python. `make bench*` measure that core; CORE=pure measures the Python source instead.
COMPILED := .run/compiled
CORE     ?= compiled
CORE_ENV := $(if $(filter compiled,$(CORE)),PYTHONSAFEPATH=1 PYTHONPATH=$(CURDIR)/$(COMPILED))
CORE_DEP := $(if $(filter compiled,$(CORE)),$(COMPILED)/.built)

compile: $(COMPILED)/.built ## compile the detection core with mypyc into .run/compiled, as the image does (~1 min)

$(COMPILED)/.built: $(STAMP) setup.py pyproject.toml $(shell find pipeline -name '*.py' -o -name '*.npz' | grep -v __pycache__)
	rm -rf $(COMPILED) && mkdir -p $(COMPILED)
	cp -r setup.py pyproject.toml README.md pipeline $(COMPILED)/
	find $(COMPILED) -name __pycache__ -prune -exec rm -rf {} +
	cd $(COMPILED) && BUZZWATCH_COMPILE=1 $(CURDIR)/$(BIN)/python setup.py -q build_ext --inplace > build.log 2>&1 \
	  || { tail -30 build.log; exit 1; }
	@touch $@

run: setup ## the whole pipeline locally: broker, worker, Slack stand-in, sample stream with a burst
	$(BIN)/python -m pipeline.devtools.demo

test: setup ## every test: unit, contract, doctests and integration on a real broker
	$(BIN)/python -m pytest

test-unit: setup ## the fast tiers only (no broker)
	$(BIN)/python -m pytest -m 'not integration'

test-integration: setup ## the real-broker tier only
	$(BIN)/python -m pytest -m integration

test-deploy: setup ## the chart, Prometheus rules, dashboard and image tests (needs promtool: apt-get install prometheus)
	$(BIN)/python -m pytest tests/deploy

test-soak: setup ## long variants: a 5-minute Slack outage, 4x the hostile input on a real broker (~9 min)
	BUZZWATCH_SOAK=1 $(BIN)/python -m pytest -m soak tests/integration

example: setup ## regenerate docs/examples/incident-* (what on-call receives for the demo's acme incident)
	$(BIN)/python -m pipeline.devtools.example_incident

latency: setup ## alert -> Slack (stand-in) latency p50/p90/p99 on a real broker and worker (last line: JSON)
	$(BIN)/python -m pipeline.devtools.latency

dashboard: setup ## regenerate helm/buzzwatch/dashboards/buzzwatch.json from pipeline/devtools/dashboard.py
	$(BIN)/python -m pipeline.devtools.dashboard

lint: setup ## ruff
	$(BIN)/ruff check pipeline tests

bench: setup $(CORE_DEP) ## one worker on Tansu: mentions/s vs scorer and raw consumer, latency, RSS; .run/bench.png (~5 min, last line: JSON)
	$(CORE_ENV) $(BIN)/python -m pipeline.sim.bench --png $(CURDIR)/.run/bench.png $(BENCH_ARGS)

bench-scale: setup $(CORE_DEP) ## two workers on 8 partitions (ratio, rebalance time); restart with 100k brands, memory:// vs rocksdb:// (~10 min)
	$(CORE_ENV) $(BIN)/python -m pipeline.sim.bench --scale-only --recovery --png $(CURDIR)/.run/bench-scale.png $(BENCH_ARGS)

DATASETS ?= ../shared/datasets

bench-detect: setup $(CORE_DEP) ## detection quality: scenario suite vs Prometheus rule vs oracle, speed, NAB, real airline traffic (last line: JSON; NAB=<numenta/NAB checkout>: all ten series)
	$(CORE_ENV) $(BIN)/python -m pipeline.sim.bench_detect --datasets $(DATASETS) $(if $(NAB),--nab $(NAB)) $(if $(SEED),--seed $(SEED)) $(if $(SCALE),--scale $(SCALE))

bench-nab: setup $(CORE_DEP) ## NAB realTweets alone (seconds); NAB=<a numenta/NAB checkout> adds the five held-back series and the published detectors on them
	$(CORE_ENV) $(BIN)/python -m pipeline.sim.nab --datasets $(or $(NAB),$(DATASETS))

bench-airline: setup $(CORE_DEP) ## the detector on six airlines' real mentions (Feb 2015): alone, then with bursts injected (~30 s; last line: JSON; SCORER=1: the shipped scorer, not the human labels)
	$(CORE_ENV) $(BIN)/python -m pipeline.sim.airline --datasets $(DATASETS) $(if $(SCORER),--scorer) $(if $(ROUNDS),--rounds $(ROUNDS))

SEEDS ?= 1-10
# e.g. DETECT_ARGS="--sensitivity 1.5e-6": what a knob trades, measured on unseen suites
DETECT_ARGS ?=

bench-detect-seeds: setup $(CORE_DEP) ## the scenario suite's quality targets on SEEDS (default 1-10: seed 1 developed on, the rest unseen; ~4 min), buzzwatch detect given DETECT_ARGS
	$(CORE_ENV) $(BIN)/python -m pipeline.sim.bench_detect --seeds $(SEEDS) $(if $(DETECT_ARGS),--detect-args '$(DETECT_ARGS)')

bench-detect-why: setup ## which test holds each negative burst back on SEEDS: the delays had one test been dropped or judged on the truth (source core; ~2 min)
	$(BIN)/python -m pipeline.sim.why_late --seeds $(SEEDS)

bench-outage: setup ## a 6-hour outage of the whole input (suite day 5, 10:00-16:00 UTC): incidents in the next 24 hours against the whole stream, on SEEDS (default 2-11; source core; ~2 min; last line: JSON; OUTAGE_ARGS="--outage-expected 0": learned as silence; "--partitions 24,73": also the outages logged on the whole stream split as the worker splits it, all false)
	$(BIN)/python -m pipeline.sim.outage --seeds $(if $(filter command line,$(origin SEEDS)),$(SEEDS),2-11) $(OUTAGE_ARGS)

bench-detect-calibration: setup ## is the surprise test's uncertainty about each brand's rate honest? Its expected negatives against the truth on quiet traffic, per tier, on SEEDS (default 2-6; source core; ~1.5 min; last line: JSON)
	$(BIN)/python -m pipeline.sim.calibration --seeds $(if $(filter command line,$(origin SEEDS)),$(SEEDS),2-6)

bench-detect-growth: setup ## what a growth-shaped likelihood ratio would gain over the oracle's fixed windows, both on the true rate: false incidents and delays per bar, on SEEDS (default 2-11; ~3.5 min; last line: JSON)
	$(BIN)/python -m pipeline.sim.growth_headroom --seeds $(if $(filter command line,$(origin SEEDS)),$(SEEDS),2-11)

bench-score: setup ## scorer quality per data set, airline learning curve, mentions/s (last line: JSON)
	$(BIN)/python -m pipeline.sim.bench_score --datasets $(DATASETS)

train: setup ## refit the shipped scorer artefact pipeline/data/scorer.npz from $(DATASETS)
	$(BIN)/python -m pip install --quiet -e '.[train]'
	$(BIN)/python -m pipeline.sim.train_scorer --datasets $(DATASETS)

clean: ## remove the virtualenv and run artefacts
	rm -rf $(VENV) .run .pytest_cache .ruff_cache *.egg-info
