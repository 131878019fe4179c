# boxlite task runner. `make help` lists the targets; `make test` is exactly what CI runs.
export CARGO_BUILD_TARGET := x86_64-unknown-linux-gnu
BOXLITE := target/$(CARGO_BUILD_TARGET)/debug/boxlite
DEMO_HOME ?= /tmp/boxlite-demo
PREFIX ?= /usr/local

.PHONY: help build test demo bench fuzz soak header fmt install

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## Build the CLI, shim, static guest and the busybox image
	bash scripts/setup.sh
	bash scripts/fixtures.sh >/dev/null

demo: build ## The main job: run a command in a box (home: $(DEMO_HOME))
	eval "$$(bash scripts/fixtures.sh 2>/dev/null)" && \
	  $(BOXLITE) --home $(DEMO_HOME) run --rm $$BOXLITE_TEST_IMAGE sh -c 'echo hello from $$(hostname), pid $$$$'

bench: build ## Latency and memory of boxes and the SDKs, with host and bwrap baselines
	bash scripts/bench.sh

test: ## Every test: Rust, Python, Node and C suites (what .ci/run runs)
	bash scripts/test.sh

soak: build ## The full soak: 1000 lifecycles from one process, 2 processes x 200 random operations
	eval "$$(bash scripts/fixtures.sh 2>/dev/null)" && \
	  BOXLITE_SOAK_CYCLES=1000 BOXLITE_SOAK_OPS=200 cargo test -p boxlite-core --test soak -- --nocapture

fuzz: ## Every cargo fuzz target for FUZZ_SECONDS (600) each on its kept corpus (fuzz/corpus/)
	bash scripts/fuzz.sh

install: ## Install CLI, libboxlite, header, pkg-config file and helpers under PREFIX (release)
	cargo build --release -p boxlite-cli -p boxlite-c
	bash scripts/install.sh "$(abspath $(PREFIX))" "$(DESTDIR)"

header: ## Regenerate include/boxlite.h (commit the result)
	cargo build -p boxlite-c

fmt: ## Format the Rust code
	cargo fmt --all
