#!/bin/bash
# local-slurm.sh start|stop|status DIR
#
# A real single-node Slurm 22.05 (Debian's slurm-wlm) on localhost for the
# project's tests: private munged -> slurmctld -> slurmd, everything (config,
# munge key and socket, state, spool, logs, pid files) under DIR.  Runs as root,
# needs no systemd.  Facts it relies on were observed on Debian 12 (see the
# project's docs/ and the test classes in src/test/java/lm/slurm).
#
#   start   install slurm-wlm + munge if missing, write DIR/slurm.conf, start
#           what is not running, wait for `scontrol ping` and an idle node.
#           stdout: `export SLURM_CONF=...` and `export LM_SLURM_DIR=...` only
#           (also written to DIR/env.sh); progress and timings go to stderr.
#           Idempotent: with the daemons of DIR running it starts nothing, and
#           if slurm.conf changed it runs `scontrol reconfigure` (or restarts
#           both daemons, keeping state, when Slurm says that is not enough,
#           e.g. after a port change).  A fresh start wipes old jobs.
#   stop    cancel all jobs, stop slurmd (+ leftover slurmstepd), slurmctld and
#           munged.  Only pids from DIR's pid files whose command line names DIR
#           are signalled.  Removes /etc/slurm/slurm.conf if it links to DIR.
#   status  exit 0 if slurmctld answers and slurmd of DIR runs, 1 otherwise;
#           prints `ctld=<pid|-> slurmd=<pid|-> munged=<pid|->` and the ports.
#
# Environment (start):
#   LM_SLURM_LICENSES    Licenses=           [abaqus.abaqus@flexlm:100,ansys.ansys@flexlm:50]
#                        (empty: no Licenses= line)
#   LM_SLURM_PROLOG      PrologSlurmctld=    absolute path of an executable, or empty [empty]
#   LM_SLURM_EPILOG      EpilogSlurmctld=    same                                      [empty]
#   LM_SLURM_CLUSTER     ClusterName=        [lmcluster]
#   LM_SLURM_CTLD_PORT   SlurmctldPort=      [6817]
#   LM_SLURM_SLURMD_PORT SlurmdPort=         [6818]
#   LM_SLURM_CPUS        node CPUs           [nproc]  (may exceed the real count:
#                        SlurmdParameters=config_overrides)
#   LM_SLURM_CRED_EXPIRE AuthInfo cred_expire [30]: also the delay before a requeued
#                        job may start again (Slurm's default 120 is too slow for tests)
#   LM_SLURM_SCHED_PARAMS SchedulerParameters= [bf_interval=1,sched_interval=1]
#                        (empty: Slurm's defaults, bf_interval=30, sched_interval=60)
#   LM_SLURM_EXTRA_CONF  extra slurm.conf lines, verbatim [none]
#   LM_SLURM_WAIT_SECS   wait limit per daemon [60]
#
# Exit status: 0 ok; 1 failure (message on stderr); 2 usage.
set -euo pipefail

log() { printf '[local-slurm] %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

usage() { echo "usage: $0 start|stop|status DIR" >&2; exit 2; }
[ $# -eq 2 ] || usage
CMD=$1
DIR=$2
case "$CMD" in start|stop|status) ;; *) usage ;; esac
case "$DIR" in /*) ;; *) DIR="$(pwd)/$DIR" ;; esac
DIR=${DIR%/}
[ "$DIR" != "" ] || die "DIR must not be /"
[ "$(id -u)" -eq 0 ] || die "must run as root"

CONF=$DIR/slurm.conf
MUNGE_DIR=$DIR/munge
MUNGE_SOCKET=$MUNGE_DIR/munge.socket.2
MUNGED_PID=$MUNGE_DIR/munged.pid
RUN_DIR=$DIR/run
LOG_DIR=$DIR/log
CTLD_PID=$RUN_DIR/slurmctld.pid
SLURMD_PID=$RUN_DIR/slurmd.pid
ETC_CONF=/etc/slurm/slurm.conf

# pid_of FILE PATTERN: the pid in FILE if it is alive, not a zombie, and its
# command line contains PATTERN (a recycled pid must never be signalled).
pid_of() {
  local f=$1 pat=$2 pid
  [ -s "$f" ] || return 1
  pid=$(tr -dc '0-9' < "$f")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" | grep -qF -- "$pat" || return 1
  alive "$pid" || return 1
  echo "$pid"
}
# PID 1 here reaps orphans lazily, so a dead daemon may linger as a zombie.
alive() { [ -d "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
wait_for() { # SECONDS COMMAND...
  local end=$(( $(date +%s) + $1 )); shift
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || return 1
    sleep 0.1
  done
}
stop_pid() { # PID NAME SECONDS: SIGTERM, then SIGKILL after SECONDS
  local pid=$1 name=$2 secs=$3 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < secs * 10; i++)); do
    alive "$pid" || { log "$name (pid $pid) stopped"; return 0; }
    sleep 0.1
  done
  log "$name (pid $pid) did not stop within ${secs}s: SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
}
conf_value() { # KEY: value of KEY= in DIR/slurm.conf
  sed -n "s/^$1=//p" "$CONF" 2>/dev/null | head -n 1
}
restart_keys() { grep -E '^(SlurmctldHost|SlurmctldPort|SlurmdPort|NodeName)=' || true; }
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ------------------------------------------------------------------ status --
do_status() {
  local c d m
  c=$(pid_of "$CTLD_PID" "$CONF" || true)
  d=$(pid_of "$SLURMD_PID" "$CONF" || true)
  m=$(pid_of "$MUNGED_PID" "$MUNGE_SOCKET" || true)
  echo "ctld=${c:--} slurmd=${d:--} munged=${m:--} ctld_port=$(conf_value SlurmctldPort) slurmd_port=$(conf_value SlurmdPort)"
  [ -n "$c" ] && [ -n "$d" ] && SLURM_CONF=$CONF scontrol ping >/dev/null 2>&1
}

# -------------------------------------------------------------------- stop --
# slurmstepd processes serving a job of DIR: they are re-parented to pid 1, so
# find them by their unix socket under DIR/spool.
stepd_pids() {
  local inodes p fd l i
  inodes=$(awk -v d="$DIR/spool/" 'index($8, d) == 1 { print $7 }' /proc/net/unix 2>/dev/null | sort -u)
  [ -n "$inodes" ] || return 0
  for p in /proc/[0-9]*; do
    [ "$(cat "$p/comm" 2>/dev/null)" = slurmstepd ] || continue
    for fd in "$p"/fd/*; do
      l=$(readlink "$fd" 2>/dev/null) || continue
      case "$l" in
        'socket:['*']') i=${l#socket:[}; i=${i%]}
                        if grep -qx "$i" <<<"$inodes"; then echo "${p#/proc/}"; break; fi ;;
      esac
    done
  done
}

do_stop() {
  local c d m jobs i p
  [ -d "$DIR" ] || { log "$DIR does not exist: nothing to stop"; return 0; }
  export SLURM_CONF=$CONF
  c=$(pid_of "$CTLD_PID" "$CONF" || true)
  d=$(pid_of "$SLURMD_PID" "$CONF" || true)
  m=$(pid_of "$MUNGED_PID" "$MUNGE_SOCKET" || true)
  if [ -n "$c" ] && scontrol ping >/dev/null 2>&1; then
    jobs=$(squeue -h -o %A 2>/dev/null | tr '\n' ' ' || true)
    if [ -n "${jobs// /}" ]; then
      log "cancelling jobs: $jobs"
      # shellcheck disable=SC2086 # a list of numeric ids
      scancel $jobs 2>/dev/null || true
      for ((i = 0; i < 150; i++)); do
        [ -z "$(squeue -h -o %A 2>/dev/null || true)" ] && break
        sleep 0.1
      done
    fi
  fi
  if [ -n "$d" ]; then stop_pid "$d" slurmd 15; fi
  for p in $(stepd_pids); do alive "$p" && stop_pid "$p" slurmstepd 5; done
  if [ -n "$c" ]; then stop_pid "$c" slurmctld 30; fi  # its slurmscriptd exits with it
  if [ -n "$m" ]; then stop_pid "$m" munged 15; fi
  if [ -L "$ETC_CONF" ] && [ "$(readlink "$ETC_CONF")" = "$CONF" ]; then
    rm -f "$ETC_CONF" && log "removed $ETC_CONF link"
  fi
  log "stopped"
}

# ------------------------------------------------------------------- start --
install_packages() {
  local b need=0 t wrote_policy=0 rc=0
  for b in slurmctld slurmd slurmstepd scontrol sbatch squeue scancel sinfo munged munge unmunge; do
    command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || need=1
  done
  [ "$need" = 0 ] && return 0
  command -v apt-get >/dev/null 2>&1 || die "slurm/munge are missing and apt-get is not available"
  t=$(now)
  export DEBIAN_FRONTEND=noninteractive
  # The packages' maintainer scripts would start slurmctld/slurmd/munged with
  # the system config; a policy-rc.d that answers 101 forbids that.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# temporary, written by local-slurm.sh\nexit 101\n' > /usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    wrote_policy=1
  fi
  log "installing slurm-wlm munge with apt-get (log: $DIR/apt-install.log)"
  if ! apt-get install -y -q --no-install-recommends slurm-wlm munge >"$DIR/apt-install.log" 2>&1; then
    log "apt-get install failed: apt-get update, then again"
    apt-get update -q >>"$DIR/apt-install.log" 2>&1 || true
    apt-get install -y -q --no-install-recommends slurm-wlm munge >>"$DIR/apt-install.log" 2>&1 || rc=$?
  fi
  [ "$wrote_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
  if [ "$rc" != 0 ]; then tail -20 "$DIR/apt-install.log" >&2 || true; die "apt-get install failed"; fi
  log "installed slurm $(dpkg-query -W -f='${Version}' slurmctld 2>/dev/null || echo '?') in $(since "$t")s"
}

write_conf() { # -> CONF.new
  local host=$1 cpus mem
  cpus=${LM_SLURM_CPUS:-$(nproc)}
  mem=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 }' /proc/meminfo)
  {
    echo "# generated by local-slurm.sh: single node on localhost, for tests"
    echo "ClusterName=$CLUSTER"
    echo "SlurmctldHost=$host(127.0.0.1)"
    echo "SlurmUser=root"
    echo "SlurmdUser=root"
    echo "SlurmctldPort=$CTLD_PORT"
    echo "SlurmdPort=$SLURMD_PORT"
    echo "AuthType=auth/munge"
    echo "CredType=cred/munge"
    # cred_expire is also how long a requeued job waits before it may start again
    echo "AuthInfo=socket=$MUNGE_SOCKET,cred_expire=$CRED_EXPIRE"
    echo "StateSaveLocation=$DIR/state"
    echo "SlurmdSpoolDir=$DIR/spool"
    echo "SlurmctldPidFile=$CTLD_PID"
    echo "SlurmdPidFile=$SLURMD_PID"
    echo "SlurmctldLogFile=$LOG_DIR/slurmctld.log"
    echo "SlurmdLogFile=$LOG_DIR/slurmd.log"
    echo "SlurmctldDebug=info"
    echo "SlurmdDebug=info"
    echo "ProctrackType=proctrack/linuxproc"
    echo "TaskPlugin=task/none"
    echo "JobAcctGatherType=jobacct_gather/none"
    echo "AccountingStorageType=accounting_storage/none"
    echo "JobCompType=jobcomp/none"
    echo "SchedulerType=sched/backfill"
    # bf_interval=1: a job pending on licenses starts ~1 s after they free up
    # (default 30 s).  sched_interval=1: a requeued job becomes eligible again
    # without any state change, which the backfill scheduler ignores, so only
    # the main loop starts it, by default up to 60 s late.
    if [ -n "$SCHED_PARAMS" ]; then echo "SchedulerParameters=$SCHED_PARAMS"; fi
    echo "SelectType=select/cons_tres"
    echo "SelectTypeParameters=CR_Core"
    echo "SlurmdParameters=config_overrides"
    echo "MpiDefault=none"
    echo "MailProg=/bin/true"
    echo "ReturnToService=2"
    if [ -n "$LICENSES" ]; then echo "Licenses=$LICENSES"; fi
    if [ -n "$PROLOG" ]; then echo "PrologSlurmctld=$PROLOG"; fi
    if [ -n "$EPILOG" ]; then echo "EpilogSlurmctld=$EPILOG"; fi
    if [ -n "$EXTRA_CONF" ]; then printf '%s\n' "$EXTRA_CONF"; fi
    echo "NodeName=$host NodeAddr=127.0.0.1 NodeHostname=$host CPUs=$cpus RealMemory=$mem State=UNKNOWN"
    echo "PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP"
  } > "$CONF.new"
  chmod 644 "$CONF.new"
}

# On a failed start, stop what this run started (not what was running before).
STARTED=()
on_start_exit() {
  local rc=$? e
  if [ "$rc" -ne 0 ]; then
    for e in "${STARTED[@]+"${STARTED[@]}"}"; do
      log "start failed: stopping ${e#*:} (pid ${e%%:*})"
      kill -TERM "${e%%:*}" 2>/dev/null || true
    done
  fi
  exit "$rc"
}

do_start() {
  local t_all t host changed=1 c d m s
  t_all=$(now)
  trap on_start_exit EXIT
  LICENSES=${LM_SLURM_LICENSES-abaqus.abaqus@flexlm:100,ansys.ansys@flexlm:50}
  PROLOG=${LM_SLURM_PROLOG:-}
  EPILOG=${LM_SLURM_EPILOG:-}
  CLUSTER=${LM_SLURM_CLUSTER:-lmcluster}
  CTLD_PORT=${LM_SLURM_CTLD_PORT:-6817}
  SLURMD_PORT=${LM_SLURM_SLURMD_PORT:-6818}
  CRED_EXPIRE=${LM_SLURM_CRED_EXPIRE:-30}
  EXTRA_CONF=${LM_SLURM_EXTRA_CONF:-}
  SCHED_PARAMS=${LM_SLURM_SCHED_PARAMS-bf_interval=1,sched_interval=1}
  WAIT_SECS=${LM_SLURM_WAIT_SECS:-60}
  for s in "$PROLOG" "$EPILOG"; do
    [ -z "$s" ] && continue
    case "$s" in /*) ;; *) die "prolog/epilog must be an absolute path: $s" ;; esac
    # slurmctld 22.05 only logs "Invalid PrologSlurmctld" and then runs every
    # job without the script (fail-open), so refuse here instead.
    [ -f "$s" ] && [ -x "$s" ] || die "$s is not an executable file"
  done

  mkdir -p "$DIR" "$RUN_DIR" "$LOG_DIR" "$DIR/state" "$DIR/spool" "$MUNGE_DIR"
  # munged wants its socket directory searchable by everyone, slurmctld its
  # state directory private.
  chmod 755 "$DIR" "$RUN_DIR" "$LOG_DIR" "$MUNGE_DIR"
  chmod 700 "$DIR/state"
  install_packages

  host=$(hostname -s 2>/dev/null || uname -n | cut -d. -f1)
  [ -n "$host" ] || die "cannot determine the short host name"
  write_conf "$host"
  if [ -f "$CONF" ] && cmp -s "$CONF" "$CONF.new"; then
    changed=0; rm -f "$CONF.new"
  else
    # scontrol reconfigure cannot move ports or the node (and scontrol would
    # spend ~9 s trying the new port): those need a restart.
    if [ -f "$CONF" ] && [ "$(restart_keys < "$CONF")" != "$(restart_keys < "$CONF.new")" ]; then changed=2; fi
    mv -f "$CONF.new" "$CONF"
  fi
  if [ ! -s "$MUNGE_DIR/munge.key" ]; then
    mungekey -c -k "$MUNGE_DIR/munge.key" 2>/dev/null \
      || dd if=/dev/urandom of="$MUNGE_DIR/munge.key" bs=1024 count=1 status=none
  fi
  chmod 600 "$MUNGE_DIR/munge.key"
  # PrologSlurmctld gets no SLURM_CONF: scontrol inside it only works with
  # /etc/slurm/slurm.conf.  Never replace a real file or another cluster's link.
  if [ ! -e "$ETC_CONF" ] && [ ! -L "$ETC_CONF" ]; then
    mkdir -p /etc/slurm && ln -s "$CONF" "$ETC_CONF" && log "linked $ETC_CONF -> $CONF"
  elif [ "$(readlink "$ETC_CONF" || true)" != "$CONF" ]; then
    log "NOTE: $ETC_CONF exists and is not ours: scripts inside Slurm must be told $CONF"
  fi
  export SLURM_CONF=$CONF

  c=$(pid_of "$CTLD_PID" "$CONF" || true)
  d=$(pid_of "$SLURMD_PID" "$CONF" || true)
  if [ -z "$c" ] && port_busy "$CTLD_PORT"; then die "port $CTLD_PORT is in use (another slurmctld?): set LM_SLURM_CTLD_PORT"; fi
  if [ -z "$d" ] && port_busy "$SLURMD_PORT"; then die "port $SLURMD_PORT is in use (another slurmd?): set LM_SLURM_SLURMD_PORT"; fi

  m=$(pid_of "$MUNGED_PID" "$MUNGE_SOCKET" || true)
  if [ -z "$m" ]; then
    t=$(now)
    rm -f "$MUNGE_SOCKET" "$MUNGE_SOCKET.lock" "$MUNGED_PID"
    /usr/sbin/munged --socket="$MUNGE_SOCKET" --key-file="$MUNGE_DIR/munge.key" \
      --pid-file="$MUNGED_PID" --log-file="$MUNGE_DIR/munged.log" --seed-file="$MUNGE_DIR/munged.seed" \
      || { tail -5 "$MUNGE_DIR/munged.log" >&2 || true; die "munged failed to start"; }
    wait_for "$WAIT_SECS" sh -c "munge -S '$MUNGE_SOCKET' -n | unmunge -S '$MUNGE_SOCKET'" \
      || die "munged does not answer on $MUNGE_SOCKET"
    m=$(pid_of "$MUNGED_PID" "$MUNGE_SOCKET" || true)
    [ -n "$m" ] && STARTED+=("$m:munged")
    log "munged started (pid ${m:-?}) in $(since "$t")s"
  fi

  if [ -n "$c" ] && [ "$changed" != 0 ]; then
    if [ "$changed" = 1 ]; then log "slurm.conf changed: scontrol reconfigure"; fi
    if [ "$changed" = 2 ] || ! scontrol reconfigure >&2; then
      # node or port changes need a restart; jobs and reservations are kept
      log "ports or node changed, or reconfigure failed: restarting slurmd and slurmctld, keeping state"
      if [ -n "$d" ]; then stop_pid "$d" slurmd 15; fi
      stop_pid "$c" slurmctld 30
      c=""; d=""; KEEP_STATE=1
    fi
  fi
  if [ -z "$c" ]; then
    if [ "${KEEP_STATE:-0}" != 1 ]; then
      rm -rf "${DIR:?}/state/"* "${DIR:?}/spool/"*
      : > "$LOG_DIR/slurmctld.log"; : > "$LOG_DIR/slurmd.log"
    fi
    t=$(now)
    rm -f "$CTLD_PID"
    /usr/sbin/slurmctld -f "$CONF" || die "slurmctld failed to start (see $LOG_DIR/slurmctld.log)"
    wait_for 5 test -s "$CTLD_PID" || true
    c=$(pid_of "$CTLD_PID" "$CONF" || true)
    [ -n "$c" ] || { tail -20 "$LOG_DIR/slurmctld.log" >&2 || true; die "slurmctld died (see $LOG_DIR/slurmctld.log)"; }
    STARTED+=("$c:slurmctld")
    if ! wait_for "$WAIT_SECS" scontrol ping; then
      tail -20 "$LOG_DIR/slurmctld.log" >&2 || true; die "slurmctld does not answer"
    fi
    log "slurmctld started (pid $c) in $(since "$t")s"
  fi
  if [ -z "$d" ]; then
    t=$(now)
    rm -f "$SLURMD_PID"
    /usr/sbin/slurmd -f "$CONF" -N "$host" || die "slurmd failed to start (see $LOG_DIR/slurmd.log)"
    wait_for "$WAIT_SECS" test -s "$SLURMD_PID" || die "slurmd wrote no pid file (see $LOG_DIR/slurmd.log)"
    d=$(pid_of "$SLURMD_PID" "$CONF" || true)
    [ -n "$d" ] || { tail -20 "$LOG_DIR/slurmd.log" >&2 || true; die "slurmd died"; }
    STARTED+=("$d:slurmd")
    log "slurmd started (pid $d) in $(since "$t")s"
  fi
  t=$(now)
  node_ready() {
    case "$(sinfo -h -n "$host" -o %T 2>/dev/null | head -n 1)" in
      idle|mixed|allocated|completing) return 0 ;;
      *) return 1 ;;
    esac
  }
  if ! wait_for "$WAIT_SECS" node_ready; then
    sinfo >&2 || true; tail -10 "$LOG_DIR/slurmd.log" >&2 || true
    die "node $host not ready within ${WAIT_SECS}s"
  fi
  log "ready (node waited $(since "$t")s, total $(since "$t_all")s)"
  printf 'export SLURM_CONF=%s\nexport LM_SLURM_DIR=%s\n' "$CONF" "$DIR" > "$DIR/env.sh"
  cat "$DIR/env.sh"
}

case "$CMD" in
  start) do_start ;;
  stop) do_stop ;;
  status) do_status ;;
esac
