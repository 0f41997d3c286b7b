# Pinhole: `make run` starts the edge on config/pinhole.yaml, `make test` runs every test.
SHELL := /bin/bash
NODE_BIN := node_modules/.bin
CONFIG ?= config/pinhole.yaml
RUN_DEBS := rtpengine-daemon
TEST_DEBS := sip-tester iptables conntrack iproute2 redis-server rtpengine-daemon openssl chromium

.PHONY: run test build lint format deps deps-run deps-test clean bench lab lab-down soak

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

deps: node_modules/.installed

# Installs Debian packages only when absent; `apt-get update` runs once, before the first install.
deps-run:
	@scripts/ensure-debs.sh $(RUN_DEBS)

deps-test:
	@scripts/ensure-debs.sh $(TEST_DEBS)

build: deps
	$(NODE_BIN)/tsc -p tsconfig.json

lint: deps
	$(NODE_BIN)/eslint .
	$(NODE_BIN)/prettier --check .

format: deps
	$(NODE_BIN)/prettier --write .

run: build deps-run
	node dist/src/cli.js --config $(CONFIG)

test: build deps-test lint
	$(NODE_BIN)/mocha

# Kamailio (its base package has rtpengine, nathelper, htable, db_text, auth), sipp, tcpdump.
BENCH_DEBS := kamailio sip-tester rtpengine-daemon tcpdump
BENCH_ARGS ?=

# Pinhole vs Kamailio + rtpengine on loopback (~15 min; BENCH_ARGS=--quick for ~5, --profile).
bench: build
	@scripts/ensure-debs.sh $(BENCH_DEBS)
	node dist/bench/main.js $(BENCH_ARGS)

# Calls, registrations and the fuzzer against one Pinhole for SOAK_MINUTES (default 10); prints
# RSS, call success rate and latency drift. `make soak SOAK_MINUTES=1` for a short run.
SOAK_MINUTES ?= 10
soak: build deps-test
	SOAK_MINUTES=$(SOAK_MINUTES) node dist/test/robustness/soak.js

# The network-namespace NAT lab (root): homes behind cone/symmetric/CGNAT NATs, edge, PBX.
lab: build deps-test
	node dist/test/e2e/lab/cli.js up

lab-down: build
	node dist/test/e2e/lab/cli.js down

clean:
	rm -rf dist
