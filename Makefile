# boxlite task runner. `make help` lists the targets; `make test` is exactly what CI runs.
export CARGO_BUILD_TARGET := x86_64-unknown-linux-gnu
BOXLITE := target/$(CARGO_BUILD_TARGET)/debug/boxlite
DEMO_HOME ?= /tmp/boxlite-demo

.PHONY: help build test demo header fmt

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-8s %s\n", $$1, $$2}'

build: ## Build the CLI, the C library and the Node addon's crate
	cargo build --workspace --exclude boxlite-python

demo: build ## The main job: create a box with the CLI and list it (home: $(DEMO_HOME))
	$(BOXLITE) --home $(DEMO_HOME) create busybox echo hello
	$(BOXLITE) --home $(DEMO_HOME) ls -a

test: ## Every test: Rust, Python, Node and C suites (what .ci/run runs)
	bash scripts/test.sh

header: ## Regenerate include/boxlite.h (commit the result)
	cargo build -p boxlite-c

fmt: ## Format the Rust code
	cargo fmt --all
