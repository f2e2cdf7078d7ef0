# Two commands on a fresh Debian/Ubuntu machine: `make up` and `make test`.
NODE24_DIR := .cache/node24
NODE24     := $(NODE24_DIR)/node_modules/node/bin/node

.PHONY: up test test-node20 test-node24 build deps system-deps bench drill clean screenshots

deps: node_modules/.installed
node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

system-deps:
	@bash scripts/ensure-system-deps.sh

build: deps
	npm run build --silent

up: build
	@WEIR_NEED_TELEMETRY_TOOLS=0 WEIR_NEED_BROWSER=0 WEIR_NEED_EDGE_TOOLS=0 bash scripts/ensure-system-deps.sh
	node dist/cli/main.js up

$(NODE24):
	npm install --no-save --no-audit --no-fund --prefix $(NODE24_DIR) node@24

test: build system-deps $(NODE24)
	@echo "== suite on $$(node --version)"; node scripts/run-tests.mjs $(T) > .cache/test-node20.log 2>&1; s20=$$?; cat .cache/test-node20.log
	@echo "== suite on $$($(NODE24) --version)"; $(NODE24) scripts/run-tests.mjs $(T) > .cache/test-node24.log 2>&1; s24=$$?; cat .cache/test-node24.log
	@node scripts/sum-results.mjs .cache/test-node20.log .cache/test-node24.log

test-node20: build system-deps
	node scripts/run-tests.mjs $(T)

# Re-takes docs/images/console-*.png from the console's browser test.
screenshots: build system-deps
	WEIR_SCREENSHOTS=docs node scripts/run-tests.mjs console-browser

bench: build system-deps
	WEIR_NEED_WRK=1 bash scripts/ensure-system-deps.sh
	node dist/bench/run.js $(B)

# [edge] Fault drills (bench/drills/): make drill D=<name>; `make drill` lists them.
drill: build system-deps
	node dist/bench/drills/run.js $(D)

clean:
	rm -rf dist .cache var
