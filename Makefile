# MAD backend. `make dev` runs the whole stack locally; `make test` runs
# every test against real Postgres and moto. See README.md.

SHELL        := /bin/bash
GO           ?= go
FUNCTIONS    := $(notdir $(wildcard functions/*))
# Deployed functions run on arm64 (Graviton); the local stack runs the same
# build recipe for the host's architecture.
ARCH         ?= arm64
HOST_ARCH    := $(shell $(GO) env GOARCH)
GOFLAGS_LAMBDA := -tags lambda.norpc -trimpath -ldflags='-s -w'
GO_SOURCES   := $(shell find shared functions migrations -name '*.go' -o -name '*.sql' -o -name '*.json' 2>/dev/null)

.PHONY: help dev test test-unit e2e build build-local synth synth-check engine-image engine-image-bump cdk-diff cdk-deploy lint fuzz bench \
        test-reliability backup restore rotate-keys invoke env clean

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s "$$(printf '\t')"

dev: build-local ## run the whole stack on 127.0.0.1:3000 (Postgres, moto, every function under the Lambda RIE, gateway, pollers)
	$(GO) run ./scripts/devstack up

test: build-local ## run all tests (unit, integration, infra, end-to-end) with a throwaway Postgres and moto
	bash scripts/testenv.sh $(GO) test -count=1 -timeout 25m ./...

test-unit: ## tests that need no services (domain rules, parsers)
	$(GO) test -count=1 ./shared/domain ./shared/molformat ./shared/routes ./shared/config

e2e: build-local ## start a fresh stack on free ports, drive it like a client, tear it down
	$(GO) run ./scripts/devstack e2e

# build/functions/<name>/bootstrap: the zip assets the CDK stack deploys.
build: $(addprefix build/functions/,$(addsuffix /bootstrap,$(FUNCTIONS))) ## build every function for Lambda (linux/$(ARCH))

build/functions/%/bootstrap: $(GO_SOURCES) go.mod go.sum
	CGO_ENABLED=0 GOOS=linux GOARCH=$(ARCH) $(GO) build $(GOFLAGS_LAMBDA) -o $@ ./functions/$*

# build/local/<name>/bootstrap: the same recipe for this machine, run by the local stack.
build-local: $(addprefix build/local/,$(addsuffix /bootstrap,$(FUNCTIONS))) ## build every function for the local stack (linux/$(HOST_ARCH))

build/local/%/bootstrap: $(GO_SOURCES) go.mod go.sum
	CGO_ENABLED=0 GOOS=linux GOARCH=$(HOST_ARCH) $(GO) build $(GOFLAGS_LAMBDA) -o $@ ./functions/$*

CDK_VERSION ?= 2.1148.1
CDK         := npx --yes aws-cdk@$(CDK_VERSION)
CDK_ARGS    ?=
CFN_LINT    := .venv/bin/cfn-lint --config-file infra/.cfnlintrc
ENGINE_LOCK := functions/engine/base-image.lock

synth: build ## synthesize the CDK template into cdk.out/ (cdk-nag checked) and lint it with cfn-lint
	$(GO) run ./infra $(CDK_ARGS)
	bash -c 'source scripts/lib.sh && venv_ensure' && $(CFN_LINT) cdk.out/*.template.json

synth-check: ## synthesize on placeholder function code (no build; not deployable) and cfn-lint it: what CI runs
	$(GO) run ./infra -c placeholderAssets=true $(CDK_ARGS)
	bash -c 'source scripts/lib.sh && venv_ensure' && $(CFN_LINT) cdk.out/*.template.json

engine-image: ## build the engine image (linux/arm64) from the pinned bases in functions/engine/base-image.lock (Docker buildx)
	@if grep -q '^# STATUS: placeholder' $(ENGINE_LOCK); then echo "$(ENGINE_LOCK) holds placeholder digests: run make engine-image-bump first" >&2; exit 1; fi
	docker buildx build --platform linux/arm64 --load -f functions/engine/Dockerfile \
	  $$(grep -E '^[A-Z_]+=' $(ENGINE_LOCK) | sed 's/^/--build-arg /') -t mad-engine:local .

engine-image-bump: ## re-pin the engine's base images to today's digests (rewrites lock + Dockerfile; review the diff)
	$(GO) run ./infra/cmd/bumpbase

cdk-diff: build ## show what a deploy would change (AWS credentials)
	$(CDK) diff $(CDK_ARGS)

cdk-deploy: build ## deploy the stack (AWS credentials, bootstrapped account, Docker for the engine image)
	$(CDK) deploy $(CDK_ARGS)

lint: ## gofmt and go vet
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...

FUZZTIME ?= 60s
fuzz: ## run every fuzz target for FUZZTIME each (default 60s)
	bash scripts/fuzz.sh $(FUZZTIME)

bench: build-local ## measure latency, throughput, cold starts and overheads against their floors (writes bench-out/)
	bash scripts/testenv.sh $(GO) run ./scripts/bench

RELIABILITY_FUZZTIME ?= 5s
test-reliability: build-local ## load, fault-injection and fuzz suite (fuzzing RELIABILITY_FUZZTIME per target; longer: make fuzz)
	bash scripts/testenv.sh $(GO) test -count=1 -timeout 30m -run Reliability ./scripts/reliability
	bash scripts/fuzz.sh $(RELIABILITY_FUZZTIME)

backup: ## back up the local stack (Postgres dump and S3 objects) into backups/
	$(GO) run ./scripts/devstack backup

restore: ## restore the local stack from BACKUP=<dir>
	$(GO) run ./scripts/devstack restore $(BACKUP)

rotate-keys: ## rotate the local JWT signing key through the rotate function
	$(GO) run ./scripts/devstack rotate-keys

invoke: ## invoke one function once under the emulator: make invoke FN=health EVENT=events/apigw/health/health.json
	$(GO) run ./scripts/devstack invoke $(FN) $(EVENT)

env: ## print the environment to reach the running local stack with the aws CLI
	@$(GO) run ./scripts/devstack env

clean: ## remove build output (keeps .state: the local stack's data)
	rm -rf build cdk.out bench-out
