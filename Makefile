# License Manager. `make run` and `make test` set up everything they need on a fresh
# Debian machine (JDK, Maven, and for the tests slurm-wlm + munge, installed by the Slurm harness).
PREFIX ?= /usr/local
DESTDIR ?=
MVN ?= mvn -B -q
JAR := target/lm.jar
STATE ?= $(CURDIR)/var

.PHONY: all build run test bench clean deps install uninstall

all: build

# The JDK and Maven, when missing (a fresh machine). apt lists are refreshed only if needed.
deps:
	@command -v java >/dev/null 2>&1 && command -v mvn >/dev/null 2>&1 || { \
	  apt-get install -y --no-install-recommends openjdk-17-jdk-headless maven || \
	  { apt-get update && apt-get install -y --no-install-recommends openjdk-17-jdk-headless maven; }; }

build: deps
	$(MVN) package -DskipTests

$(JAR):
	$(MAKE) build

# Serves http://127.0.0.1:8000/lm with an embedded PostgreSQL whose data stays in ./var,
# and prints an admin token.
run: build
	LM_STATE_DIR=$(STATE) bin/lm-server --print-token

test: deps
	mvn -B test

clean:
	mvn -B -q clean

# Prints admitted jobs/s over HTTP vs the pgbench ceiling (same SQL), p50/p99, and prolog latency.
bench: deps
	@command -v /usr/lib/postgresql/15/bin/pgbench >/dev/null 2>&1 || command -v pgbench >/dev/null 2>&1 || \
	  apt-get install -y --no-install-recommends postgresql-15 || \
	  { apt-get update && apt-get install -y --no-install-recommends postgresql-15; }
	$(MVN) test-compile dependency:build-classpath -Dmdep.outputFile=target/test-classpath.txt -Dmdep.includeScope=test
	java -cp target/test-classes:target/classes:$$(cat target/test-classpath.txt) lm.bench.Bench
