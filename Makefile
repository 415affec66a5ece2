# ghostgate — the two commands a newcomer needs are `make demo` and `make test`.
SHELL := bash
GO ?= go
BIN := bin/migrate
PKGS := ./...

.PHONY: all build demo test bench fuzz lint sandbox-up sandbox-down sandbox-status clean

all: build

build: ## build bin/migrate and the example service (bin/shopsvc, bin/shopload)
	$(GO) build -o $(BIN) ./cmd/migrate
	$(GO) build -o bin/shopsvc ./examples/shop/cmd/shopsvc
	$(GO) build -o bin/shopload ./examples/shop/cmd/shopload

sandbox-up: ## start the local MariaDB primary + replica (installs mariadb-server if missing)
	scripts/sandbox.sh up

sandbox-down: ## stop the sandbox servers (data is kept)
	scripts/sandbox.sh down

sandbox-status:
	scripts/sandbox.sh status

demo: build sandbox-up ## set up the sandbox and run the demo
	scripts/demo.sh

test: ## the whole suite: gofmt, vet, race-enabled tests against the sandbox (leaves nothing running)
	scripts/test.sh

bench: build sandbox-up ## benchmarks that print figures (see BENCHMARKS.md)
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 90m ./...

FUZZTIME ?= 1m
fuzz: ## fuzz offline planning for FUZZTIME each (default 1m; `make test` runs the seed corpus)
	$(GO) test ./planner -run '^$$' -fuzz '^FuzzPlanOffline$$' -fuzztime $(FUZZTIME)
	$(GO) test ./planner -run '^$$' -fuzz '^FuzzSchemaFile$$' -fuzztime $(FUZZTIME)

lint: ## gofmt + go vet
	@test -z "$$(gofmt -l .)" || { gofmt -l .; exit 1; }
	$(GO) vet $(PKGS)
	cd graybox && $(GO) vet ./...

clean:
	rm -rf bin
