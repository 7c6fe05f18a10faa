# botgate: the two commands a newcomer needs are `make run` and `make test`.
# Everything they need is installed by the targets themselves (Rust comes from rustup).

VENV := .venv
STAMP_TEST := $(VENV)/.test-installed
STAMP_DEPLOY := $(VENV)/.deploy-installed
CONFIG ?= examples/botgate.yaml
LISTEN ?= 127.0.0.1:8080
export SAM_CLI_TELEMETRY := 0
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help run test lint smoke sam lambda events bench fuzz venv venv-deploy clean ci

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

run: ## run the gateway and dispatcher locally on the example configuration (in memory, dry run)
	@# --bin, not -p: the workspace's features, as `make test` builds them, so one does not rebuild the other
	cargo run -q --bin botgate -- serve --config $(CONFIG) --listen $(LISTEN)

test: venv ## run every test (starts moto itself for the DynamoDB/SQS tests)
	@if cargo nextest --version >/dev/null 2>&1; then cargo nextest run --workspace --no-fail-fast \
	  && cargo test -q --workspace --doc; \
	else cargo test --workspace --no-fail-fast; fi

lint: ## rustfmt and clippy, warnings as errors
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

smoke: venv-deploy ## run the callback function under `cargo lambda watch` and invoke it per platform
	scripts/smoke.sh

sam: venv-deploy ## validate (cfn-lint) and build the SAM application, offline
	scripts/validate-template.sh
	sam build --build-in-source

# The three functions in one release build: their link-time optimisations run in parallel,
# where three builds (SAM's rust-cargolambda method) would run them one after another.
# Linked natively (no zig); the check refuses a binary that needs a newer glibc than the
# provided.al2023 runtime has (2.34).
LAMBDA_BINS := callback dispatcher scheduler
LAMBDA_GLIBC := 2.34
lambda: venv-deploy ## build the Lambda functions (release) into target/lambda/<name>/bootstrap
	cargo lambda build --release --compiler cargo $(addprefix --bin ,$(LAMBDA_BINS))
	scripts/lambda-glibc.sh $(LAMBDA_GLIBC) $(LAMBDA_BINS)

# What `sam build` runs for each function (BuildMethod: makefile, built in source).
build-CallbackFunction: BIN := callback
build-DispatcherFunction: BIN := dispatcher
build-SchedulerFunction: BIN := scheduler
build-CallbackFunction build-DispatcherFunction build-SchedulerFunction: lambda
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is unset: run sam build, or make lambda" >&2; exit 2; }
	cp target/lambda/$(BIN)/bootstrap $(ARTIFACTS_DIR)/bootstrap

events: ## regenerate events/ (API Gateway v2 samples at a fixed time)
	scripts/make-events.sh

bench: ## criterion benchmarks under the release profile the functions ship with (inbound per platform, raw floor, in-process handler, dispatcher)
	cargo bench -p botgate-core -p botgate

fuzz: ## run each fuzz target for FUZZ_SECONDS (default 60)
	scripts/fuzz.sh

venv: $(STAMP_TEST) ## python tools for the tests (moto) in .venv
venv-deploy: $(STAMP_TEST) $(STAMP_DEPLOY) ## python tools for smoke/sam (cargo-lambda, aws-sam-cli, cfn-lint)

$(VENV)/bin/python:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip

$(STAMP_TEST): requirements-test.txt | $(VENV)/bin/python
	$(VENV)/bin/pip install -q -r requirements-test.txt
	touch $@

$(STAMP_DEPLOY): requirements-deploy.txt | $(VENV)/bin/python
	$(VENV)/bin/pip install -q -r requirements-deploy.txt
	touch $@

ci: lint test smoke sam ## what .ci/run does

clean:
	cargo clean
	rm -rf $(VENV) .aws-sam
