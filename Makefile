# ferry — keep Intercom and Salesforce in sync.
.DEFAULT_GOAL := help

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO      ?= go
export CGO_ENABLED := 1

SCALE     ?= 100000
ROUNDS    ?= 20
CONVERGE_FAULTS ?= false
BENCHFLAGS ?=
FUZZTIME  ?= 30s
DEMO_DIR  ?= .demo
DEMO_PORT ?= 18080
# The S3-compatible server the object-storage tests start (make tools).
VERSITYGW_VERSION ?= v1.8.0

.PHONY: help build tools test test-race report-test bench bench-serve bench-parquet image chaos conformance demo emulator fmt lint fuzz tidy clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-14s %s\n", $$1, $$2}'

build: ## build bin/ferry (cgo: DuckDB)
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/ferry ./cmd/ferry

tools: bin/versitygw ## build what the tests start: the Versity S3 Gateway, a real S3-compatible server (object-storage data dirs)

bin/versitygw:
	GOBIN=$(CURDIR)/bin $(GO) install github.com/versity/versitygw/cmd/versitygw@$(VERSITYGW_VERSION)

test: tools ## run the whole test suite (hermetic: emulators in-process, an S3-compatible server)
	$(GO) test -count=1 -timeout 30m ./...

report-test: ## the report's real-browser test alone: headless Chromium renders ferry report's page (apt-get install chromium)
	$(GO) test ./internal/report -run '^TestBrowser' -count=1 -v

test-race: ## run the suite under the race detector
	$(GO) test -race -count=1 ./...

demo: build ## run the main job end to end against local emulators
	@sh scripts/demo.sh $(DEMO_DIR) $(DEMO_PORT)

emulator: build ## serve the emulators on :4010 (Intercom) and :4020 (Salesforce)
	./bin/ferry emulator --dir .ferry-emulator --scale 1000

image: ## build the container image (docs/orchestrators/Dockerfile) with docker; needs a daemon and a registry to pull the base images from
	docker build -f docs/orchestrators/Dockerfile -t ferry:$(VERSION) .

bench: build ## first sync, echo, converged and after-0.1%-changes runs at SCALE contacts; BENCHFLAGS=--keep
	$(GO) run ./internal/bench --scale $(SCALE) --ferry ./bin/ferry $(BENCHFLAGS)

bench-serve: build ## ferry serve: seconds from a conversation closed in Intercom to its completed Salesforce Task, at SCALE (10000) contacts
	FERRY_BENCH_SCALE=$(if $(filter command line environment,$(origin SCALE)),$(SCALE),10000) $(GO) test ./internal/cli -run '^$$' -bench BenchmarkServe_CloseToTask -benchtime 1x -timeout 60m -v

chaos: SCALE = $(if $(filter command line environment,$(origin SCALE)),$(SCALE),3000)
chaos: ## ferry and the emulators killed at random under 20 % faults and 10 % lost answers, ROUNDS times at SCALE (3000) contacts; then convergence (CONVERGE_FAULTS=true keeps the failed requests on)
	$(GO) test ./internal/cli -run '^TestChaos$$' -count=1 -timeout 0 -v -args -chaos.scale=$(SCALE) -chaos.rounds=$(ROUNDS) -chaos.converge-faults=$(CONVERGE_FAULTS)

conformance: ## real clients nobody here wrote (the Salesforce CLI, jsforce, Intercom's intercom-client SDK; installed from npm into ~/.cache/ferry-conformance) against ferry emulator
	bash scripts/conformance/run.sh

bench-parquet: ## compare the Parquet landing writers on 1,000,000 contacts
	cd internal/parquetbench && $(GO) test -run '^$$' -bench . -benchtime 1x -count 1

fuzz: ## fuzz the parsers of outside input (FUZZTIME each)
	$(GO) test ./internal/config -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./emulator/salesforce -run '^$$' -fuzz FuzzSOQL -fuzztime $(FUZZTIME)
	$(GO) test ./internal/httpx -run '^$$' -fuzz FuzzWaitFromHeaders -fuzztime $(FUZZTIME)

fmt: ## gofmt the tree
	gofmt -w $$(git ls-files '*.go')

lint: ## go vet
	$(GO) vet ./...

tidy: ## go mod tidy
	$(GO) mod tidy

clean: ## remove build and demo output
	rm -rf bin $(DEMO_DIR) .ferry .ferry-emulator
