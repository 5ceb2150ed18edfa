#!/usr/bin/env bash
# A real Apache Kafka broker for integration tests and CI: single node, KRaft, combined broker+controller,
# run straight from the Maven Central jars (no tarball, no Docker). See usage() below.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
PROG=${0##*/}

KAFKA_VERSION=${KAFKA_VERSION:-4.1.1}
POM=$SCRIPT_DIR/kafka/pom.xml
HOST=127.0.0.1
PORT=${KAFKA_PORT:-19092}
CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-19093}
START_TIMEOUT=${KAFKA_START_TIMEOUT:-90}
STOP_TIMEOUT=${KAFKA_STOP_TIMEOUT:-30}
HEAP_OPTS=${KAFKA_HEAP_OPTS:--Xms256m -Xmx768m}
JVM_OPTS=${KAFKA_JVM_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExitOnOutOfMemoryError -Djava.awt.headless=true}
APT_PACKAGES=(openjdk-17-jre-headless maven)

usage() {
  cat <<EOF
Usage: $PROG COMMAND

A local single-node Apache Kafka $KAFKA_VERSION broker (KRaft, combined broker+controller) built from the
Maven Central jars, listening on $HOST only. For integration tests and CI.

Commands:
  fetch    download the broker jars (once; cached) and exit
  start    fetch if needed, format storage on first use, start the broker in the background and wait until
           it answers as a Kafka broker (${START_TIMEOUT}s timeout). Does nothing if it is already running.
  stop     SIGTERM, wait up to ${STOP_TIMEOUT}s, then SIGKILL. Does nothing if it is not running.
  status   exit 0 if running and answering, 1 if running but not answering, 3 if not running
  reset    stop and wipe the broker's data (topics, offsets, cluster id, logs)
  env      print KAFKA_BOOTSTRAP_SERVERS=$HOST:<port> (one line; e.g. export "\$($PROG env)")
  logs     print the last 200 lines of the server log; 'logs N' the last N; 'logs -f' follows it
  help     this text

Environment (defaults in brackets):
  KAFKA_PORT             broker (PLAINTEXT) listener port [19092]
  KAFKA_CONTROLLER_PORT  KRaft controller listener port [19093]
  KAFKA_DATA_DIR         config, storage, pid file and logs [<repo>/.data/kafka]
  KAFKA_CACHE_DIR        downloaded jars [<repo>/.cache/kafka-<version>]
  KAFKA_VERSION          org.apache.kafka:kafka_2.13 version [4.1.1]
  KAFKA_START_TIMEOUT    seconds to wait for readiness [90]
  KAFKA_STOP_TIMEOUT     seconds to wait after SIGTERM [30]
  KAFKA_HEAP_OPTS        JVM heap flags [-Xms256m -Xmx768m]
  KAFKA_JVM_OPTS         other JVM flags [G1, small pauses, exit on OOM]
  KAFKA_EXTRA_CONFIG     extra server.properties lines (key=value, newline separated; they win)
  KAFKA_CLUSTER_ID       cluster id used by the first format [random]

Needs java (17+) and, to fetch, mvn. When missing and running as root, installs the Debian packages
${APT_PACKAGES[*]} with apt-get. Jars are cached in KAFKA_CACHE_DIR and ~/.m2.

Example:
  scripts/kafka.sh start && export "\$(scripts/kafka.sh env)" && go test ./... ; scripts/kafka.sh stop
EOF
}

log() { printf '%s: %s\n' "$PROG" "$*" >&2; }
die() {
  printf '%s: error: %s\n' "$PROG" "$*" >&2
  exit 1
}

# abs_path PATH: absolute, normalised PATH (which need not exist yet).
abs_path() {
  realpath -m -- "$1"
}

check_port_number() {
  if ! [[ $2 =~ ^[0-9]+$ ]] || ((10#$2 < 1 || 10#$2 > 65535)); then
    die "$1 must be a port number, got '$2'"
  fi
}

init_paths() {
  check_port_number KAFKA_PORT "$PORT"
  check_port_number KAFKA_CONTROLLER_PORT "$CONTROLLER_PORT"
  [[ $PORT != "$CONTROLLER_PORT" ]] || die "KAFKA_PORT and KAFKA_CONTROLLER_PORT must differ (both $PORT)"
  [[ $START_TIMEOUT =~ ^[0-9]+$ ]] || die "KAFKA_START_TIMEOUT must be a number of seconds"
  [[ $STOP_TIMEOUT =~ ^[0-9]+$ ]] || die "KAFKA_STOP_TIMEOUT must be a number of seconds"
  CACHE_DIR=$(abs_path "${KAFKA_CACHE_DIR:-$REPO_ROOT/.cache/kafka-$KAFKA_VERSION}")
  LIBS_DIR=$CACHE_DIR/libs
  MARKER=$LIBS_DIR/.fetch-complete
  DATA_DIR=$(abs_path "${KAFKA_DATA_DIR:-$REPO_ROOT/.data/kafka}")
  STORAGE_DIR=$DATA_DIR/kraft-combined-logs
  LOG_DIR=$DATA_DIR/logs
  SERVER_LOG=$LOG_DIR/server.log
  STDOUT_LOG=$LOG_DIR/stdout.log
  PID_FILE=$DATA_DIR/kafka.pid
  CONFIG=$DATA_DIR/server.properties
  LOG4J_CONFIG=$DATA_DIR/log4j2.properties
  CLUSTER_ID_FILE=$DATA_DIR/cluster.id
}

# lock FILE: hold an exclusive lock on FILE (fd 9) until the script exits.
lock() {
  command -v flock >/dev/null 2>&1 || return 0
  mkdir -p -- "$(dirname -- "$1")"
  exec 9>"$1"
  flock -w 300 9 || die "could not lock $1 within 300 s (another $PROG running?)"
}

apt_install_or_die() {
  local what=$1
  if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    die "$what not found. Install the Debian packages: sudo apt-get install -y ${APT_PACKAGES[*]}"
  fi
  log "$what not found: installing ${APT_PACKAGES[*]} with apt-get"
  DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || die "apt-get update failed"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${APT_PACKAGES[@]}" >&2 ||
    die "apt-get install ${APT_PACKAGES[*]} failed"
}

need_java() {
  command -v java >/dev/null 2>&1 || apt_install_or_die java
  local spec
  spec=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')
  [[ ${spec%%.*} =~ ^[0-9]+$ ]] || die "could not tell the version of $(command -v java)"
  ((${spec%%.*} >= 17)) || die "Kafka $KAFKA_VERSION needs Java 17+, $(command -v java) is Java $spec (install openjdk-17-jre-headless)"
}

need_mvn() {
  command -v mvn >/dev/null 2>&1 || apt_install_or_die mvn
}

fetch_wanted() {
  printf 'kafka=%s pom=%s\n' "$KAFKA_VERSION" "$(sha256sum "$POM" | cut -d' ' -f1)"
}

fetched() {
  [[ -f $MARKER && $(<"$MARKER") == "$(fetch_wanted)" && -f $LIBS_DIR/kafka_2.13-$KAFKA_VERSION.jar ]]
}

cmd_fetch() {
  [[ -f $POM ]] || die "missing $POM"
  if fetched; then
    log "Kafka $KAFKA_VERSION jars already in $LIBS_DIR"
    return 0
  fi
  lock "$CACHE_DIR/.lock"
  if fetched; then # someone else fetched while we waited for the lock
    log "Kafka $KAFKA_VERSION jars already in $LIBS_DIR"
    return 0
  fi
  need_java
  need_mvn
  local tmp=$CACHE_DIR/libs.tmp.$$ start=$SECONDS
  rm -rf -- "$tmp"
  log "fetching org.apache.kafka:kafka_2.13:$KAFKA_VERSION and dependencies (Maven) into $LIBS_DIR"
  if ! mvn -B -ntp -f "$POM" -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies -DoutputDirectory="$tmp" >"$CACHE_DIR/mvn-fetch.log" 2>&1; then
    grep -E '\[(ERROR|WARNING)\]' "$CACHE_DIR/mvn-fetch.log" | head -n 40 >&2 || tail -n 40 "$CACHE_DIR/mvn-fetch.log" >&2
    rm -rf -- "$tmp"
    die "mvn dependency:copy-dependencies failed for Kafka $KAFKA_VERSION (is Maven Central reachable?); full log: $CACHE_DIR/mvn-fetch.log"
  fi
  local jar
  for jar in "kafka_2.13-$KAFKA_VERSION.jar" "kafka-clients-$KAFKA_VERSION.jar" "kafka-server-$KAFKA_VERSION.jar"; do
    [[ -f $tmp/$jar ]] || {
      rm -rf -- "$tmp"
      die "fetch incomplete: $jar missing"
    }
  done
  rm -rf -- "$LIBS_DIR"
  mv -- "$tmp" "$LIBS_DIR"
  fetch_wanted >"$MARKER"
  log "fetched $(find "$LIBS_DIR" -name '*.jar' | wc -l) jars in $((SECONDS - start)) s"
}

# pid of our broker, if it is running (checks the command line, so a recycled pid is not mistaken for it).
broker_pid() {
  local pid
  [[ -f $PID_FILE ]] || return 1
  pid=$(<"$PID_FILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF " kafka.Kafka $CONFIG" || return 1
  printf '%s\n' "$pid"
}

port_open() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$HOST" "$1" 2>/dev/null
}

# kafka_answers: send an ApiVersions (v0) request to the broker port and check that a Kafka response with our
# correlation id comes back. Proves a Kafka broker is serving requests, not just that the port is open.
kafka_answers() {
  local out
  # shellcheck disable=SC2016 # expanded by the inner bash
  out=$(timeout 5 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    # size=15 | api_key=18 (ApiVersions) | api_version=0 | correlation_id="KAFK" | client_id="probe"
    printf "\x00\x00\x00\x0f\x00\x12\x00\x00KAFK\x00\x05probe" >&3
    head -c 10 <&3 | od -An -tx1 -v
  ' "$HOST" "$PORT" 2>/dev/null) || return 1
  out=${out//[[:space:]]/}
  # response: int32 size | int32 correlation_id | int16 error_code
  [[ ${out:8:8} == 4b41464b ]]
}

show_log_tail() {
  local f errors
  errors=$(grep -m 5 -A 1 -E '^\[[^]]*\] (ERROR|FATAL) ' "$SERVER_LOG" 2>/dev/null | cut -c1-400 || true)
  if [[ -n $errors ]]; then
    printf '%s: ---- first errors in %s ----\n%s\n' "$PROG" "$SERVER_LOG" "$errors" >&2
  fi
  for f in "$SERVER_LOG" "$STDOUT_LOG"; do
    [[ -s $f ]] || continue
    printf '%s: ---- last lines of %s ----\n' "$PROG" "$f" >&2
    tail -n 40 -- "$f" >&2
  done
}

port_owner() {
  command -v ss >/dev/null 2>&1 || return 0
  ss -Hltnp "sport = :$1" 2>/dev/null | head -n 3 || true
}

random_cluster_id() {
  # A Kafka cluster id is a base64url UUID (16 random bytes, 22 chars); Kafka avoids a leading '-'.
  local id
  while :; do
    id=$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')
    [[ $id == -* ]] || break
  done
  printf '%s\n' "$id"
}

write_configs() {
  cat >"$CONFIG" <<EOF
# Generated by scripts/kafka.sh on every start; edits are overwritten (use KAFKA_EXTRA_CONFIG).
process.roles=broker,controller
node.id=1
# Static quorum of one: survives a change of KAFKA_CONTROLLER_PORT between runs (a dynamic quorum formatted
# with --standalone stores the controller endpoint in the metadata log).
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$STORAGE_DIR

# single node
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true

# small machine
num.network.threads=2
num.io.threads=4
background.threads=4
num.recovery.threads.per.data.dir=1
num.replica.fetchers=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=16777216
log.retention.hours=168
log.retention.check.interval.ms=300000
EOF
  if [[ -n ${KAFKA_EXTRA_CONFIG:-} ]]; then
    printf '\n# KAFKA_EXTRA_CONFIG\n%s\n' "$KAFKA_EXTRA_CONFIG" >>"$CONFIG"
  fi

  cat >"$LOG4J_CONFIG" <<EOF
# Generated by scripts/kafka.sh on every start.
status = warn
name = local-kafka
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = $SERVER_LOG
appender.file.filePattern = $SERVER_LOG.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.authorizer.name = kafka.authorizer.logger
logger.authorizer.level = INFO
EOF
}

format_storage_once() {
  if [[ -f $STORAGE_DIR/meta.properties ]]; then
    return 0
  fi
  local cluster_id out
  if [[ -s $CLUSTER_ID_FILE ]]; then
    cluster_id=$(<"$CLUSTER_ID_FILE")
  else
    cluster_id=${KAFKA_CLUSTER_ID:-$(random_cluster_id)}
    printf '%s\n' "$cluster_id" >"$CLUSTER_ID_FILE"
  fi
  log "formatting storage $STORAGE_DIR (cluster id $cluster_id)"
  # Kafka 4.x: with controller.quorum.voters set, format must NOT get --standalone/--initial-controllers.
  if ! out=$(java -cp "$LIBS_DIR/*" -Dlog4j2.configurationFile="$LOG4J_CONFIG" -Xmx256m \
    kafka.tools.StorageTool format --cluster-id "$cluster_id" --config "$CONFIG" --ignore-formatted 2>&1); then
    printf '%s\n' "$out" >&2
    die "formatting the storage directory failed"
  fi
  [[ -f $STORAGE_DIR/meta.properties ]] || {
    printf '%s\n' "$out" >&2
    die "format did not create $STORAGE_DIR/meta.properties"
  }
}

# wait_ready PID: until the process has logged "Kafka Server started" and answers Kafka requests.
wait_ready() {
  local pid=$1 deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f -- "$PID_FILE"
      show_log_tail
      die "the broker (pid $pid) exited during startup; logs: $LOG_DIR"
    fi
    if grep -qF 'Kafka Server started' "$SERVER_LOG" 2>/dev/null && kafka_answers; then
      return 0
    fi
    if ((SECONDS >= deadline)); then
      show_log_tail
      log "stopping the broker that did not become ready"
      stop_pid "$pid"
      rm -f -- "$PID_FILE"
      die "the broker was not ready on $HOST:$PORT after ${START_TIMEOUT} s; logs: $LOG_DIR"
    fi
    sleep 0.5
  done
}

cmd_start() {
  need_java
  cmd_fetch
  lock "$DATA_DIR/.lock"
  local pid t0=$SECONDS
  if pid=$(broker_pid); then
    if kafka_answers; then
      log "already running (pid $pid) on $HOST:$PORT"
      return 0
    fi
    log "running (pid $pid) but not answering yet on $HOST:$PORT: waiting"
    wait_ready "$pid"
    log "ready on $HOST:$PORT (pid $pid)"
    return 0
  fi
  rm -f -- "$PID_FILE"
  local p owner
  for p in "$PORT" "$CONTROLLER_PORT"; do
    if port_open "$p"; then
      owner=$(port_owner "$p")
      die "port $HOST:$p is already in use by another process${owner:+:
$owner}
(not a broker started by this script with KAFKA_DATA_DIR=$DATA_DIR). Stop it, or set KAFKA_PORT / KAFKA_CONTROLLER_PORT."
    fi
  done
  mkdir -p -- "$LOG_DIR" "$STORAGE_DIR"
  [[ -f $SERVER_LOG ]] && mv -f -- "$SERVER_LOG" "$LOG_DIR/previous-server.log"
  [[ -f $STDOUT_LOG ]] && mv -f -- "$STDOUT_LOG" "$LOG_DIR/previous-stdout.log"
  write_configs
  format_storage_once

  local -a heap_opts jvm_opts
  read -r -a heap_opts <<<"$HEAP_OPTS"
  read -r -a jvm_opts <<<"$JVM_OPTS"
  log "starting Kafka $KAFKA_VERSION on $HOST:$PORT (controller $CONTROLLER_PORT), data in $DATA_DIR"
  nohup java "${heap_opts[@]}" "${jvm_opts[@]}" \
    -Dlog4j2.configurationFile="$LOG4J_CONFIG" -Dkafka.logs.dir="$LOG_DIR" \
    -cp "$LIBS_DIR/*" kafka.Kafka "$CONFIG" </dev/null >"$STDOUT_LOG" 2>&1 9>&- &
  pid=$!
  printf '%s\n' "$pid" >"$PID_FILE"
  wait_ready "$pid"
  log "ready on $HOST:$PORT (pid $pid) in $((SECONDS - t0)) s"
}

# stop_pid PID: SIGTERM, wait up to STOP_TIMEOUT, then SIGKILL.
stop_pid() {
  local pid=$1 deadline=$((SECONDS + STOP_TIMEOUT))
  kill -TERM "$pid" 2>/dev/null || return 0
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= deadline)); then
      log "still running after ${STOP_TIMEOUT} s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
}

cmd_stop() {
  if [[ ! -d $DATA_DIR ]]; then
    log "not running"
    return 0
  fi
  lock "$DATA_DIR/.lock"
  local pid t0=$SECONDS
  if ! pid=$(broker_pid); then
    rm -f -- "$PID_FILE"
    log "not running"
    return 0
  fi
  log "stopping (pid $pid)"
  stop_pid "$pid"
  rm -f -- "$PID_FILE"
  log "stopped in $((SECONDS - t0)) s"
}

cmd_status() {
  local pid
  if ! pid=$(broker_pid); then
    echo "not running (data dir $DATA_DIR)"
    return 3
  fi
  if kafka_answers; then
    echo "running (pid $pid), bootstrap $HOST:$PORT, data dir $DATA_DIR"
    return 0
  fi
  echo "running (pid $pid) but not answering on $HOST:$PORT (starting, stopping, or another port?)"
  return 1
}

cmd_reset() {
  cmd_stop
  # Remove only what this script creates, so a KAFKA_DATA_DIR pointing somewhere shared is not emptied.
  rm -rf -- "$STORAGE_DIR" "$LOG_DIR" "$CONFIG" "$LOG4J_CONFIG" "$CLUSTER_ID_FILE" "$PID_FILE" "$DATA_DIR/.lock"
  rmdir -- "$DATA_DIR" 2>/dev/null || true
  log "wiped the broker data in $DATA_DIR"
}

cmd_logs() {
  [[ -f $SERVER_LOG ]] || die "no server log yet ($SERVER_LOG)"
  if [[ ${1:-} == -f ]]; then
    exec tail -n 100 -F -- "$SERVER_LOG"
  fi
  [[ ${1:-200} =~ ^[0-9]+$ ]] || die "usage: $PROG logs [-f | LINES]"
  tail -n "${1:-200}" -- "$SERVER_LOG"
}

main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
  fetch)
    init_paths
    cmd_fetch
    ;;
  start)
    init_paths
    cmd_start
    ;;
  stop)
    init_paths
    cmd_stop
    ;;
  status)
    init_paths
    cmd_status
    ;;
  reset)
    init_paths
    cmd_reset
    ;;
  env)
    check_port_number KAFKA_PORT "$PORT"
    printf 'KAFKA_BOOTSTRAP_SERVERS=%s:%s\n' "$HOST" "$PORT"
    ;;
  logs)
    init_paths
    cmd_logs "$@"
    ;;
  help | -h | --help) usage ;;
  "")
    usage >&2
    exit 2
    ;;
  *)
    printf '%s: unknown command: %s\n\n' "$PROG" "$cmd" >&2
    usage >&2
    exit 2
    ;;
  esac
}

main "$@"
