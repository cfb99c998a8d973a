# License Manager. `make run` and `make test` set up everything they need on a fresh
# Debian machine (JDK, Maven, and for the tests slurm-wlm + munge, installed by the Slurm harness).
PREFIX ?= /usr/local
DESTDIR ?=
# Configuration files; lm-server's unit passes $(SYSCONFDIR)/lm/lm.conf, the scripts default to /etc/lm.
SYSCONFDIR ?= /etc
MANDIR ?= $(PREFIX)/share/man
# systemd also reads units, sysusers.d and tmpfiles.d under /usr/local/lib, so these follow
# PREFIX for /usr and /usr/local. For another PREFIX (e.g. /opt/lm) set
# SYSTEMDDIR=/etc/systemd/system SYSUSERSDIR=/etc/sysusers.d TMPFILESDIR=/etc/tmpfiles.d.
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
TMPFILESDIR ?= $(PREFIX)/lib/tmpfiles.d
MVN ?= mvn -B -q
JAR := target/lm.jar
STATE ?= $(CURDIR)/var

.PHONY: all build run test bench clean deps doc-deps install uninstall

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

# The jar first: the install test runs the installed scripts. man, groff and systemd-analyze
# for the man page and unit checks (src/test/java/lm/docs).
test: build doc-deps
	mvn -B test

doc-deps:
	@command -v man >/dev/null 2>&1 && command -v groff >/dev/null 2>&1 && \
	  command -v systemd-analyze >/dev/null 2>&1 || { \
	  apt-get install -y --no-install-recommends man-db groff-base systemd || \
	  { apt-get update && apt-get install -y --no-install-recommends man-db groff-base systemd; }; }

clean:
	mvn -B -q clean

# Prints admitted jobs/s over HTTP vs the pgbench ceiling (same SQL), p50/p99, prolog latency, and
# an lm-agent pass at 150,000 jobs / 1,000 features / 50 servers. Only the last one:
# make bench BENCH_OPTS=-Dlm.bench.only=agent
# The usage history's reports over a generated year and an agent report with history on (about
# 9 GB of data, a quarter of an hour to generate): make bench BENCH_OPTS=-Dlm.bench.only=reports
# Admission with the history (denials, job history) on vs off: BENCH_OPTS=-Dlm.bench.only=history
BENCH_OPTS ?=
bench: deps
	@command -v /usr/lib/postgresql/15/bin/pgbench >/dev/null 2>&1 || command -v pgbench >/dev/null 2>&1 || \
	  apt-get install -y --no-install-recommends postgresql-15 || \
	  { apt-get update && apt-get install -y --no-install-recommends postgresql-15; }
	$(MVN) test-compile dependency:build-classpath -Dmdep.outputFile=target/test-classpath.txt -Dmdep.includeScope=test
	java $(BENCH_OPTS) -cp target/test-classes:target/classes:$$(cat target/test-classpath.txt) lm.bench.Bench

# ---------------------------------------------------------------- install --
# make install [PREFIX=/usr/local] [DESTDIR=] [SYSCONFDIR=/etc]: every file installed is listed
# in $(PREFIX)/share/lm/install-manifest (paths without DESTDIR), which `make uninstall`
# removes again. Existing files in $(SYSCONFDIR)/lm are never overwritten: the shipped ones
# are in $(PREFIX)/share/lm/etc to compare with. Units get @PREFIX@/@SYSCONFDIR@ replaced.
# Afterwards, on the target host: systemd-sysusers; systemd-tmpfiles --create;
# systemctl daemon-reload (see README, "Install on a cluster").
DATADIR := $(PREFIX)/share/lm
MANIFEST := $(DATADIR)/install-manifest
INSTALL_BIN := $(filter-out bin/lm-epilog,$(wildcard bin/lm-*))
INSTALL_CONF := $(wildcard etc/lm/*.conf)
INSTALL_MAN := $(wildcard man/*.[158])
INSTALL_UNITS := $(wildcard systemd/*.service systemd/*.timer)

# sh functions of the install recipe. put MODE SRC DEST: copy SRC to $(DESTDIR)DEST and list
# DEST; subst MODE SRC DEST: the same with @PREFIX@ and @SYSCONFDIR@ replaced.
define INSTALL_FUNCS
set -eu; \
m='$(DESTDIR)$(MANIFEST).new'; \
list() { printf '%s\n' "$$1" >>"$$m"; }; \
put() { mkdir -p "$(DESTDIR)$${3%/*}"; install -m "$$1" "$$2" "$(DESTDIR)$$3"; list "$$3"; }; \
subst() { mkdir -p "$(DESTDIR)$${3%/*}"; \
  sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' "$$2" >"$(DESTDIR)$$3"; \
  chmod "$$1" "$(DESTDIR)$$3"; list "$$3"; }
endef

install: $(JAR)
	@$(INSTALL_FUNCS); \
	mkdir -p '$(DESTDIR)$(DATADIR)'; : >"$$m"; \
	put 644 $(JAR) '$(DATADIR)/lm.jar'; \
	for f in $(INSTALL_BIN); do put 755 "$$f" '$(PREFIX)/bin/'"$${f##*/}"; done; \
	if [ -L bin/lm-epilog ]; then \
	  ln -sfn lm-prolog '$(DESTDIR)$(PREFIX)/bin/lm-epilog'; list '$(PREFIX)/bin/lm-epilog'; fi; \
	for f in $(INSTALL_MAN); do n=$${f##*/}; put 644 "$$f" '$(MANDIR)/man'"$${n##*.}/$$n"; done; \
	if [ -f man/lm-prolog.8 ]; then \
	  printf '.so man8/lm-prolog.8\n' >'$(DESTDIR)$(MANDIR)/man8/lm-epilog.8'; list '$(MANDIR)/man8/lm-epilog.8'; fi; \
	for f in $(INSTALL_UNITS); do subst 644 "$$f" '$(SYSTEMDDIR)/'"$${f##*/}"; done; \
	subst 644 systemd/lm.sysusers '$(SYSUSERSDIR)/lm.conf'; \
	subst 644 systemd/lm.tmpfiles '$(TMPFILESDIR)/lm.conf'; \
	sed -e 's|/usr/local/bin/lm-|$(PREFIX)/bin/lm-|g' etc/slurm/slurm.conf.snippet >'$(DESTDIR)$(DATADIR)/slurm.conf.snippet'; \
	list '$(DATADIR)/slurm.conf.snippet'; \
	for f in $(INSTALL_CONF); do \
	  n=$${f##*/}; put 644 "$$f" '$(DATADIR)/etc/'"$$n"; c='$(SYSCONFDIR)/lm/'"$$n"; \
	  if [ ! -e "$(DESTDIR)$$c" ]; then \
	    mode=644; case $$n in lm.conf) mode=640 ;; agent.conf) mode=600 ;; esac; \
	    put "$$mode" "$$f" "$$c"; \
	  elif cmp -s "$$f" "$(DESTDIR)$$c"; then list "$$c"; \
	  else echo "make install: keeping $(DESTDIR)$$c (changed; the shipped one is $(DESTDIR)$(DATADIR)/etc/$$n)"; fi; \
	done; \
	list '$(MANIFEST)'; mv "$$m" '$(DESTDIR)$(MANIFEST)'; \
	echo "make install: $$(wc -l <'$(DESTDIR)$(MANIFEST)') files, listed in $(DESTDIR)$(MANIFEST)"

# Removes what the manifest lists, except files in $(SYSCONFDIR)/lm that differ from the shipped
# copies (an admin's changes stay), then our own directories if empty.
uninstall:
	@set -eu; m='$(DESTDIR)$(MANIFEST)'; \
	[ -f "$$m" ] || { echo "make uninstall: no $$m: nothing installed with PREFIX=$(PREFIX) DESTDIR=$(DESTDIR)" >&2; exit 1; }; \
	files=$$(cat "$$m"); \
	for p in $$files; do \
	  case $$p in '$(SYSCONFDIR)/lm/'*) \
	    if [ -e "$(DESTDIR)$$p" ] && ! cmp -s "$(DESTDIR)$$p" "$(DESTDIR)$(DATADIR)/etc/$${p##*/}"; then \
	      echo "make uninstall: keeping $(DESTDIR)$$p (changed)"; else rm -f "$(DESTDIR)$$p"; fi ;; \
	  esac; \
	done; \
	for p in $$files; do case $$p in '$(SYSCONFDIR)/lm/'*) ;; *) rm -f "$(DESTDIR)$$p" ;; esac; done; \
	for d in '$(DATADIR)/etc' '$(DATADIR)' '$(SYSCONFDIR)/lm'; do rmdir "$(DESTDIR)$$d" 2>/dev/null || :; done; \
	echo "make uninstall: removed the files listed in $$m"
