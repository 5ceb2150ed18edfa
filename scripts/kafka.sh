#!/usr/bin/env bash
# A real Apache Kafka broker for integration tests and CI: single node, KRaft, combined broker+controller,
# run straight from the Maven Central jars (no tarball, no Docker). Also a 3-node cluster (replication factor 3,
# min.insync.replicas 2) for failover tests, and Kafka's own command-line tools. See usage() below.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
PROG=${0##*/}
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$SCRIPT_DIR/lib/common.sh"

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
JAVA_FOR="Kafka $KAFKA_VERSION"
LOG_PREFIX=""      # before every log line ("node 2: " in cluster mode)
WHAT="the broker" # what log and error messages call the broker being handled ("node 2" in cluster mode)

# Cluster mode (scripts/kafka.sh cluster ...): three combined broker+controller nodes, node ids 1..3.
CLUSTER_PORTS_CSV=${KAFKA_CLUSTER_PORTS:-19192,19292,19392}
CLUSTER_CONTROLLER_PORTS_CSV=${KAFKA_CLUSTER_CONTROLLER_PORTS:-19193,19293,19393}
CLUSTER_START_TIMEOUT=${KAFKA_CLUSTER_START_TIMEOUT:-180}
CLUSTER_HEAP_OPTS=${KAFKA_CLUSTER_HEAP_OPTS:--Xms128m -Xmx512m}
# C1 only: measured on 2 loaded cores, a node starts with ~4.5 CPU-s instead of ~11 (the cluster in 8-20 s instead
# of 45-55 s), and in its first minutes it is faster too (C2's compiler threads compete with the broker).
CLUSTER_JVM_OPTS=${KAFKA_CLUSTER_JVM_OPTS:-$JVM_OPTS -XX:TieredStopAtLevel=1}
CLUSTER_NODES=3

# Kafka's command-line tools (scripts/kafka.sh tool NAME ...).
TOOL_HEAP_OPTS=${KAFKA_TOOL_HEAP_OPTS:--Xmx512m}
# Admin tools start quicker with the serial GC and C1 only; the tools that measure get the full JIT (G1).
TOOL_JVM_OPTS=${KAFKA_TOOL_JVM_OPTS:--XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true}
PERF_TOOL_JVM_OPTS=${KAFKA_TOOL_JVM_OPTS:--XX:+UseG1GC -Djava.awt.headless=true}
TOOL_LOG4J_CONFIG=$SCRIPT_DIR/kafka/tools-log4j2.properties

usage() {
  cat <<EOF
Usage: $PROG COMMAND
       $PROG cluster COMMAND
       $PROG [cluster] tool NAME [ARGS...]

A local single-node Apache Kafka $KAFKA_VERSION broker (KRaft, combined broker+controller) built from the
Maven Central jars, listening on $HOST only. For integration tests and CI. Also a three-node cluster for
failover tests, and Kafka's own command-line tools.

Commands:
  fetch    download the broker and tool jars (once; cached; again when scripts/kafka/pom.xml changes) and exit
  start    fetch if needed, format storage on first use, start the broker in the background and wait until
           it answers as a Kafka broker (${START_TIMEOUT}s timeout). Does nothing if it is already running.
  stop     SIGTERM, wait up to ${STOP_TIMEOUT}s, then SIGKILL. Does nothing if it is not running.
  status   exit 0 if running and answering, 1 if running but not answering, 3 if not running
  reset    stop and wipe the broker's data (topics, offsets, cluster id, logs)
  env      print KAFKA_BOOTSTRAP_SERVERS=$HOST:<port> (one line; e.g. export "\$($PROG env)")
  logs     print the last 200 lines of the server log; 'logs N' the last N; 'logs -f' follows it
  tool     run one of Kafka's command-line tools (see Tools) against the single node
  cluster  the three-node cluster (see Cluster mode)
  help     this text

Cluster mode: three combined broker+controller nodes (node ids 1, 2, 3) on $HOST with a static quorum of three
voters; default.replication.factor=3 (the offsets and transaction topics too), min.insync.replicas=2, no unclean
leader election, no topic auto-creation: with acks=all a write survives the loss of any one node. Separate from
the single node (own ports, own data dir); the failover tests start it on demand.
  cluster start         fetch if needed, format each node once (one shared cluster id), start the nodes that are
                        not running and wait until every node answers and reports all three brokers alive
                        (${CLUSTER_START_TIMEOUT}s timeout). Idempotent; concurrent callers wait for each other (flock).
  cluster stop          SIGTERM every node at once, SIGKILL after ${STOP_TIMEOUT}s
  cluster status        one line per node; exit 0 if all three answer and see three brokers, 3 if none runs, else 1
  cluster env           print KAFKA_CLUSTER_BOOTSTRAP_SERVERS=$HOST:<port>,$HOST:<port>,$HOST:<port>
  cluster reset         stop and wipe the cluster's data
  cluster kill N        SIGKILL node N (a crash: no controlled shutdown) and wait until its process is gone
  cluster start-node N  start node N again and wait until it answers and is registered (alive) with the others
  cluster pid N         print node N's pid (exit 3 if it is not running)
  cluster logs N [L|-f] node N's server log, as logs
  cluster tool NAME ... a tool, as tool, with --bootstrap-server defaulting to the three nodes

Tools: "$PROG tool NAME [ARGS...]" runs Kafka's own CLI tool NAME (kafka-NAME.sh in Kafka's distribution) from
the fetched jars, logging only warnings (to stderr). Unless ARGS give --bootstrap-server or --bootstrap-controller
(or ask for --help), the tool gets --bootstrap-server $HOST:$PORT (with cluster: the three nodes).
"$PROG tool --list" lists them: topics, consumer-groups, console-consumer, console-producer, configs,
get-offsets, delete-records, leader-election, reassign-partitions, metadata-quorum, log-dirs, dump-log, features,
producer-perf-test, consumer-perf-test, verifiable-producer, verifiable-consumer, and more.

Environment (defaults in brackets):
  KAFKA_PORT             broker (PLAINTEXT) listener port [19092]
  KAFKA_CONTROLLER_PORT  KRaft controller listener port [19093]
  KAFKA_DATA_DIR         config, storage, pid file and logs [<repo>/.data/kafka]
  KAFKA_CACHE_DIR        downloaded jars [<repo>/.cache/kafka-<version>]
  KAFKA_VERSION          org.apache.kafka:kafka_2.13 version [4.1.1]
  KAFKA_START_TIMEOUT    seconds to wait for readiness [90]
  KAFKA_STOP_TIMEOUT     seconds to wait after SIGTERM (single node and cluster) [30]
  KAFKA_HEAP_OPTS        JVM heap flags [-Xms256m -Xmx768m]
  KAFKA_JVM_OPTS         other JVM flags [G1, small pauses, exit on OOM]
  KAFKA_EXTRA_CONFIG     extra server.properties lines (key=value, newline separated; they win)
  KAFKA_CLUSTER_ID       cluster id used by the first format (single node and cluster) [random]
  KAFKA_CLUSTER_PORTS             the nodes' broker ports [19192,19292,19392]
  KAFKA_CLUSTER_CONTROLLER_PORTS  the nodes' controller ports [19193,19293,19393]
  KAFKA_CLUSTER_DATA_DIR          node-1..node-3 (config, storage, pid, logs) and cluster.id [<repo>/.data/kafka-cluster]
  KAFKA_CLUSTER_START_TIMEOUT     seconds to wait for the cluster or a restarted node [180]
  KAFKA_CLUSTER_HEAP_OPTS         JVM heap flags per node [-Xms128m -Xmx512m]
  KAFKA_CLUSTER_JVM_OPTS          other JVM flags per node [KAFKA_JVM_OPTS and C1 only: quick (re)starts]
  KAFKA_CLUSTER_EXTRA_CONFIG      extra server.properties lines for every node (e.g. broker.session.timeout.ms=...)
  KAFKA_TOOL_HEAP_OPTS   JVM heap flags of a tool [-Xmx512m]
  KAFKA_TOOL_JVM_OPTS    other JVM flags of a tool [serial GC, C1 only: starts quickly; the perf tools G1]

Needs java (17+) and, to fetch, mvn. When missing and running as root, installs the Debian packages
${APT_PACKAGES[*]} with apt-get. Jars are cached in KAFKA_CACHE_DIR and ~/.m2.

Examples:
  scripts/kafka.sh start && export "\$(scripts/kafka.sh env)" && go test ./... ; scripts/kafka.sh stop
  scripts/kafka.sh tool consumer-groups --describe --all-groups
  scripts/kafka.sh cluster start && scripts/kafka.sh cluster tool metadata-quorum describe --status
  scripts/kafka.sh cluster kill 2 && scripts/kafka.sh cluster start-node 2
EOF
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
  for jar in "kafka_2.13-$KAFKA_VERSION.jar" "kafka-clients-$KAFKA_VERSION.jar" "kafka-server-$KAFKA_VERSION.jar" \
    "kafka-tools-$KAFKA_VERSION.jar"; do
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
# When the pid file is missing or stale (e.g. a start interrupted between the launch and writing it), the process
# is looked for by its command line and the pid file written again.
broker_pid() {
  local pid d comm
  if [[ -f $PID_FILE ]]; then
    pid=$(<"$PID_FILE")
    if [[ $pid =~ ^[0-9]+$ ]] && is_our_broker "$pid"; then
      printf '%s\n' "$pid"
      return 0
    fi
  fi
  for d in /proc/[0-9]*; do
    read -r comm 2>/dev/null <"$d/comm" || continue
    [[ $comm == java ]] || continue
    pid=${d#/proc/}
    if is_our_broker "$pid"; then
      [[ -d ${PID_FILE%/*} ]] && { printf '%s\n' "$pid" >"$PID_FILE"; } 2>/dev/null
      printf '%s\n' "$pid"
      return 0
    fi
  done
  return 1
}

# is_our_broker PID: PID is alive and runs kafka.Kafka with our CONFIG (so a recycled pid is not mistaken for it).
is_our_broker() {
  local -a args
  pid_alive "$1" || return 1
  mapfile -d '' -t args 2>/dev/null <"/proc/$1/cmdline" || return 1
  ((${#args[@]} >= 2)) && [[ ${args[-2]} == kafka.Kafka && ${args[-1]} == "$CONFIG" ]]
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

# live_brokers PORT: the number of brokers the broker on PORT reports as alive (registered with the controller
# and not fenced), from a Metadata (v1, no topics) request; fails if it does not answer.
live_brokers() {
  local out
  # shellcheck disable=SC2016 # expanded by the inner bash
  out=$(timeout 5 bash -c '
    exec 3<>"/dev/tcp/$0/$1" || exit 1
    # size=19 | api_key=3 (Metadata) | api_version=1 | correlation_id="KAFK" | client_id="probe" | topics=[] (none)
    printf "\x00\x00\x00\x13\x00\x03\x00\x01KAFK\x00\x05probe\x00\x00\x00\x00" >&3
    head -c 12 <&3 | od -An -tx1 -v
  ' "$HOST" "$1" 2>/dev/null) || return 1
  out=${out//[[:space:]]/}
  # response: int32 size | int32 correlation_id | int32 number of brokers | brokers ...
  [[ ${out:8:8} == 4b41464b && ${#out} == 24 ]] || return 1
  printf '%d\n' "$((16#${out:16:8}))"
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
  write_server_config
  write_log4j_config
}

write_server_config() {
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
}

write_log4j_config() {
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

# wait_ready PID [DEADLINE]: until the process has logged "Kafka Server started" and answers Kafka requests, or
# until DEADLINE (a value of $SECONDS; default START_TIMEOUT from now).
wait_ready() {
  local pid=$1 deadline=${2:-$((SECONDS + START_TIMEOUT))} t0=$SECONDS
  while :; do
    if ! pid_alive "$pid"; then # not broker_pid: right after the launch, $pid may not have exec'd java yet
      rm -f -- "$PID_FILE"
      show_log_tail
      die "$WHAT (pid $pid) exited during startup; logs: $LOG_DIR"
    fi
    if grep -qF 'Kafka Server started' "$SERVER_LOG" 2>/dev/null && kafka_answers; then
      return 0
    fi
    if ((SECONDS >= deadline)); then
      show_log_tail
      log "stopping $WHAT, which did not become ready"
      stop_pid "$pid"
      rm -f -- "$PID_FILE"
      die "$WHAT was not ready on $HOST:$PORT after $((SECONDS - t0)) s; logs: $LOG_DIR"
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
  launch_broker write_configs "KAFKA_DATA_DIR=$DATA_DIR" "KAFKA_PORT / KAFKA_CONTROLLER_PORT"
  pid=$LAUNCHED_PID
  wait_ready "$pid"
  log "ready on $HOST:$PORT (pid $pid) in $((SECONDS - t0)) s"
}

# launch_broker WRITE_CONFIGS DATA_SETTING PORT_SETTINGS: check the ports are free, write the configuration (with
# the function WRITE_CONFIGS), format the storage on first use and start the broker in the background; its pid
# goes to PID_FILE and LAUNCHED_PID. The settings name what to change in the error for a taken port.
launch_broker() {
  local write=$1 data_setting=$2 port_settings=$3 p owner
  rm -f -- "$PID_FILE"
  for p in "$PORT" "$CONTROLLER_PORT"; do
    if port_open "$HOST" "$p"; then
      owner=$(port_owner "$p")
      die "port $HOST:$p is already in use by another process${owner:+:
$owner}
(not a broker started by this script with $data_setting). Stop it, or set $port_settings."
    fi
  done
  mkdir -p -- "$LOG_DIR" "$STORAGE_DIR"
  [[ -f $SERVER_LOG ]] && mv -f -- "$SERVER_LOG" "$LOG_DIR/previous-server.log"
  [[ -f $STDOUT_LOG ]] && mv -f -- "$STDOUT_LOG" "$LOG_DIR/previous-stdout.log"
  "$write"
  format_storage_once

  local -a heap_opts jvm_opts
  read -r -a heap_opts <<<"$HEAP_OPTS"
  read -r -a jvm_opts <<<"$JVM_OPTS"
  log "starting Kafka $KAFKA_VERSION on $HOST:$PORT (controller $CONTROLLER_PORT), data in $DATA_DIR"
  nohup java "${heap_opts[@]}" "${jvm_opts[@]}" \
    -Dlog4j2.configurationFile="$LOG4J_CONFIG" -Dkafka.logs.dir="$LOG_DIR" \
    -cp "$LIBS_DIR/*" kafka.Kafka "$CONFIG" </dev/null >"$STDOUT_LOG" 2>&1 9>&- &
  LAUNCHED_PID=$!
  printf '%s\n' "$LAUNCHED_PID" >"$PID_FILE"
}

cmd_stop() { stop_daemon broker_pid; }

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

# ---- cluster mode: scripts/kafka.sh cluster COMMAND ---------------------------------------------------------------

init_cluster_paths() {
  init_paths
  [[ $CLUSTER_START_TIMEOUT =~ ^[0-9]+$ ]] || die "KAFKA_CLUSTER_START_TIMEOUT must be a number of seconds"
  IFS=, read -r -a CLUSTER_PORTS <<<"$CLUSTER_PORTS_CSV"
  IFS=, read -r -a CLUSTER_CONTROLLER_PORTS <<<"$CLUSTER_CONTROLLER_PORTS_CSV"
  ((${#CLUSTER_PORTS[@]} == CLUSTER_NODES)) ||
    die "KAFKA_CLUSTER_PORTS must be $CLUSTER_NODES comma-separated ports, got '$CLUSTER_PORTS_CSV'"
  ((${#CLUSTER_CONTROLLER_PORTS[@]} == CLUSTER_NODES)) ||
    die "KAFKA_CLUSTER_CONTROLLER_PORTS must be $CLUSTER_NODES comma-separated ports, got '$CLUSTER_CONTROLLER_PORTS_CSV'"
  local p all=" " i
  for p in "${CLUSTER_PORTS[@]}" "${CLUSTER_CONTROLLER_PORTS[@]}"; do
    check_port_number "KAFKA_CLUSTER_PORTS / KAFKA_CLUSTER_CONTROLLER_PORTS" "$p"
    [[ $all != *" $p "* ]] || die "port $p appears twice in KAFKA_CLUSTER_PORTS / KAFKA_CLUSTER_CONTROLLER_PORTS"
    all+="$p "
  done
  CLUSTER_DIR=$(abs_path "${KAFKA_CLUSTER_DATA_DIR:-$REPO_ROOT/.data/kafka-cluster}")
  CLUSTER_ID_FILE=$CLUSTER_DIR/cluster.id
  CLUSTER_VOTERS="" CLUSTER_BOOTSTRAP=""
  for ((i = 0; i < CLUSTER_NODES; i++)); do
    CLUSTER_VOTERS+=${CLUSTER_VOTERS:+,}$((i + 1))@$HOST:${CLUSTER_CONTROLLER_PORTS[i]}
    CLUSTER_BOOTSTRAP+=${CLUSTER_BOOTSTRAP:+,}$HOST:${CLUSTER_PORTS[i]}
  done
}

# use_node N: point the single-broker variables (ports, paths, messages) at cluster node N, so that the functions
# above (broker_pid, kafka_answers, wait_ready, launch_broker, cmd_logs, ...) handle that node.
use_node() {
  if ! [[ $1 =~ ^[1-9][0-9]*$ ]] || (($1 > CLUSTER_NODES)); then
    die "no node '$1': the nodes are 1..$CLUSTER_NODES"
  fi
  NODE=$1
  PORT=${CLUSTER_PORTS[NODE - 1]}
  CONTROLLER_PORT=${CLUSTER_CONTROLLER_PORTS[NODE - 1]}
  DATA_DIR=$CLUSTER_DIR/node-$NODE
  STORAGE_DIR=$DATA_DIR/kraft-combined-logs
  LOG_DIR=$DATA_DIR/logs
  SERVER_LOG=$LOG_DIR/server.log
  STDOUT_LOG=$LOG_DIR/stdout.log
  PID_FILE=$DATA_DIR/kafka.pid
  CONFIG=$DATA_DIR/server.properties
  LOG4J_CONFIG=$DATA_DIR/log4j2.properties
  HEAP_OPTS=$CLUSTER_HEAP_OPTS
  JVM_OPTS=$CLUSTER_JVM_OPTS
  WHAT="node $NODE"
  LOG_PREFIX="node $NODE: "
}

use_cluster() {
  WHAT="the cluster"
  LOG_PREFIX="cluster: "
}

write_cluster_node_configs() {
  cat >"$CONFIG" <<EOF
# Generated by scripts/kafka.sh (cluster mode) on every start; edits are overwritten (use KAFKA_CLUSTER_EXTRA_CONFIG).
process.roles=broker,controller
node.id=$NODE
# Static quorum of three voters (every node is a controller): a majority of 2 elects the active controller.
controller.quorum.voters=$CLUSTER_VOTERS
listeners=PLAINTEXT://$HOST:$PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
log.dirs=$STORAGE_DIR

# three nodes, production-shaped durability: every partition on all three, a write acknowledged (acks=all) once
# two have it, so one node may be down; never an out-of-sync replica as leader.
num.partitions=1
default.replication.factor=3
min.insync.replicas=2
unclean.leader.election.enable=false
offsets.topic.replication.factor=3
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=3
transaction.state.log.min.isr=2
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=3
share.coordinator.state.topic.min.isr=2
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true

# small machine (three JVMs on it)
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
  if [[ -n ${KAFKA_CLUSTER_EXTRA_CONFIG:-} ]]; then
    printf '\n# KAFKA_CLUSTER_EXTRA_CONFIG\n%s\n' "$KAFKA_CLUSTER_EXTRA_CONFIG" >>"$CONFIG"
  fi
  write_log4j_config
}

# running_nodes: the numbers of the nodes whose process runs, space separated.
running_nodes() {
  local n out=()
  for ((n = 1; n <= CLUSTER_NODES; n++)); do
    use_node "$n"
    broker_pid >/dev/null && out+=("$n")
  done
  printf '%s\n' "${out[*]}"
}

# wait_registered NODE... DEADLINE: until each NODE answers and reports as many live brokers as nodes are running
# (every running node registered with the controller and unfenced), or DEADLINE.
wait_registered() {
  local -a nodes=("${@:1:$#-1}")
  local deadline=${*: -1} n want seen
  while :; do
    want=$(running_nodes)
    want=$(wc -w <<<"$want")
    local ok=1 report=""
    for n in "${nodes[@]}"; do
      use_node "$n"
      seen=$(live_brokers "$PORT") || seen="no answer"
      report+=" node $n: $seen;"
      [[ $seen == "$want" ]] || ok=0
    done
    use_cluster
    ((ok)) && return 0
    if ((SECONDS >= deadline)); then
      die "the nodes do not all see the $want running brokers (live brokers reported by$report); see scripts/kafka.sh cluster status, cluster logs N"
    fi
    sleep 0.5
  done
}

# format_cluster_nodes: format the storage of every node not formatted yet, in parallel (a JVM each), with the
# one cluster id of the cluster.
format_cluster_nodes() {
  local n failed=0
  local -a jobs=()
  for ((n = 1; n <= CLUSTER_NODES; n++)); do
    use_node "$n"
    [[ -f $STORAGE_DIR/meta.properties ]] && continue
    if [[ ! -s $CLUSTER_ID_FILE ]]; then
      mkdir -p -- "$CLUSTER_DIR"
      printf '%s\n' "${KAFKA_CLUSTER_ID:-$(random_cluster_id)}" >"$CLUSTER_ID_FILE"
    fi
    mkdir -p -- "$LOG_DIR" "$STORAGE_DIR"
    write_cluster_node_configs
    format_storage_once 9>&- &
    jobs+=($!)
  done
  for n in "${jobs[@]}"; do
    wait "$n" || failed=1
  done
  use_cluster
  ((!failed)) || die "formatting the nodes' storage failed"
}

cmd_cluster_start() {
  need_java
  cmd_fetch
  use_cluster
  lock "$CLUSTER_DIR/.lock"
  local n pid t0=$SECONDS deadline=$((SECONDS + CLUSTER_START_TIMEOUT)) p owner
  local -a pids=() started=() all=()
  # Check every port of a node that is not running before starting any node.
  for ((n = 1; n <= CLUSTER_NODES; n++)); do
    all+=("$n")
    use_node "$n"
    broker_pid >/dev/null && continue
    for p in "$PORT" "$CONTROLLER_PORT"; do
      if port_open "$HOST" "$p"; then
        owner=$(port_owner "$p")
        die "port $HOST:$p is already in use by another process${owner:+:
$owner}
(not a node started by this script with KAFKA_CLUSTER_DATA_DIR=$CLUSTER_DIR). Stop it, or set KAFKA_CLUSTER_PORTS / KAFKA_CLUSTER_CONTROLLER_PORTS."
      fi
    done
  done
  format_cluster_nodes
  for n in "${all[@]}"; do
    use_node "$n"
    if pid=$(broker_pid); then
      pids[n]=$pid
      continue
    fi
    launch_broker write_cluster_node_configs "KAFKA_CLUSTER_DATA_DIR=$CLUSTER_DIR" "KAFKA_CLUSTER_PORTS / KAFKA_CLUSTER_CONTROLLER_PORTS"
    pids[n]=$LAUNCHED_PID
    started+=("$n")
  done
  for n in "${all[@]}"; do
    use_node "$n"
    wait_ready "${pids[n]}" "$deadline" "$t0"
  done
  wait_registered "${all[@]}" "$deadline"
  use_cluster
  if ((${#started[@]} == 0)); then
    log "already running (pids ${pids[*]}), bootstrap $CLUSTER_BOOTSTRAP"
  else
    log "ready in $((SECONDS - t0)) s (started node ${started[*]}; pids ${pids[*]}), bootstrap $CLUSTER_BOOTSTRAP"
  fi
}

cmd_cluster_start_node() {
  need_java
  cmd_fetch
  use_node "$1"
  lock "$CLUSTER_DIR/.lock"
  use_node "$1"
  local pid t0=$SECONDS deadline=$((SECONDS + CLUSTER_START_TIMEOUT))
  if pid=$(broker_pid); then
    log "running (pid $pid): waiting until it answers and is registered"
  else
    launch_broker write_cluster_node_configs "KAFKA_CLUSTER_DATA_DIR=$CLUSTER_DIR" "KAFKA_CLUSTER_PORTS / KAFKA_CLUSTER_CONTROLLER_PORTS"
    pid=$LAUNCHED_PID
  fi
  wait_ready "$pid" "$deadline" "$t0"
  wait_registered "$1" "$deadline"
  use_node "$1"
  log "ready on $HOST:$PORT (pid $pid) in $((SECONDS - t0)) s"
}

cmd_cluster_stop() {
  use_cluster
  if [[ ! -d $CLUSTER_DIR ]]; then
    log "not running"
    return 0
  fi
  lock "$CLUSTER_DIR/.lock"
  local n pid t0=$SECONDS deadline=$((SECONDS + STOP_TIMEOUT))
  local -a pids=() nodes=()
  for ((n = 1; n <= CLUSTER_NODES; n++)); do
    use_node "$n"
    if pid=$(broker_pid); then
      pids+=("$pid")
      nodes+=("$n")
    else
      rm -f -- "$PID_FILE"
    fi
  done
  use_cluster
  if ((${#pids[@]} == 0)); then
    log "not running"
    return 0
  fi
  # All at once: each node's broker shuts down (controlled, moving its leaders) while the controllers still run.
  log "stopping node ${nodes[*]} (pids ${pids[*]})"
  kill -TERM "${pids[@]}" 2>/dev/null || true
  for pid in "${pids[@]}"; do
    await_exit "$pid" "$deadline"
  done
  for n in "${nodes[@]}"; do
    use_node "$n"
    rm -f -- "$PID_FILE"
  done
  use_cluster
  log "stopped in $((SECONDS - t0)) s"
}

# kill N: SIGKILL node N (a crash: no controlled shutdown), and wait until the process is gone.
cmd_cluster_kill() {
  use_node "$1"
  [[ -d $CLUSTER_DIR ]] || die "not running (no $CLUSTER_DIR)"
  lock "$CLUSTER_DIR/.lock"
  use_node "$1"
  local pid deadline=$((SECONDS + 10))
  if ! pid=$(broker_pid); then
    log "not running"
    return 3
  fi
  kill -KILL "$pid"
  while pid_alive "$pid"; do
    ((SECONDS < deadline)) || die "pid $pid still alive 10 s after SIGKILL"
    sleep 0.05
  done
  rm -f -- "$PID_FILE"
  log "killed (SIGKILL, pid $pid)"
}

cmd_cluster_status() {
  local n pid seen running=0 ready=0 line
  for ((n = 1; n <= CLUSTER_NODES; n++)); do
    use_node "$n"
    if ! pid=$(broker_pid); then
      line="not running"
    else
      running=$((running + 1))
      if ! kafka_answers; then
        line="running (pid $pid) but not answering"
      else
        seen=$(live_brokers "$PORT") || seen="?"
        line="running (pid $pid), answering, sees $seen live broker(s)"
        [[ $seen == "$CLUSTER_NODES" ]] && ready=$((ready + 1))
      fi
    fi
    printf 'node %d (%s:%s, controller %s): %s\n' "$n" "$HOST" "$PORT" "$CONTROLLER_PORT" "$line"
  done
  printf 'bootstrap %s, data dir %s\n' "$CLUSTER_BOOTSTRAP" "$CLUSTER_DIR"
  ((running == 0)) && return 3
  ((ready == CLUSTER_NODES)) && return 0
  return 1
}

cmd_cluster_pid() {
  use_node "$1"
  local pid
  pid=$(broker_pid) || {
    log "not running"
    return 3
  }
  printf '%s\n' "$pid"
}

cmd_cluster_reset() {
  cmd_cluster_stop
  local n
  for ((n = 1; n <= CLUSTER_NODES; n++)); do
    use_node "$n"
    # Remove only what this script creates, so a KAFKA_CLUSTER_DATA_DIR pointing somewhere shared is not emptied.
    rm -rf -- "$STORAGE_DIR" "$LOG_DIR" "$CONFIG" "$LOG4J_CONFIG" "$PID_FILE"
    rmdir -- "$DATA_DIR" 2>/dev/null || true
  done
  use_cluster
  rm -f -- "$CLUSTER_ID_FILE" "$CLUSTER_DIR/.lock" "$CLUSTER_DIR/tests.lock" # tests.lock: testkit.KafkaCluster
  rmdir -- "$CLUSTER_DIR" 2>/dev/null || true
  log "wiped the cluster's data in $CLUSTER_DIR"
}

cluster_main() {
  local cmd=${1:-}
  [[ $# -gt 0 ]] && shift
  case $cmd in
  start | stop | status | reset | env | tool | help | -h | --help) ;;
  start-node | kill | pid | logs)
    [[ $# -ge 1 ]] || die "usage: $PROG cluster $cmd N (N = 1..$CLUSTER_NODES)"
    ;;
  "")
    usage >&2
    exit 2
    ;;
  *)
    printf '%s: unknown cluster command: %s\n\n' "$PROG" "$cmd" >&2
    usage >&2
    exit 2
    ;;
  esac
  [[ $cmd == help || $cmd == -h || $cmd == --help ]] && {
    usage
    return 0
  }
  init_cluster_paths
  case $cmd in
  start) cmd_cluster_start ;;
  stop) cmd_cluster_stop ;;
  status) cmd_cluster_status ;;
  reset) cmd_cluster_reset ;;
  env) printf 'KAFKA_CLUSTER_BOOTSTRAP_SERVERS=%s\n' "$CLUSTER_BOOTSTRAP" ;;
  start-node) cmd_cluster_start_node "$1" ;;
  kill) cmd_cluster_kill "$1" ;;
  pid) cmd_cluster_pid "$1" ;;
  logs)
    use_node "$1"
    shift
    cmd_logs "$@"
    ;;
  tool) cmd_tool "$CLUSTER_BOOTSTRAP" "$@" ;;
  esac
}

# ---- Kafka's command-line tools: scripts/kafka.sh [cluster] tool NAME [ARGS...] ---------------------------------

# name | main class | how the default bootstrap is given: pre (--bootstrap-server first), post (after the
# subcommand's arguments), props (--producer-props bootstrap.servers=), none | what it is
TOOLS='
topics|org.apache.kafka.tools.TopicCommand|pre|create, alter, list, describe, delete topics (kafka-topics.sh)
consumer-groups|org.apache.kafka.tools.consumer.group.ConsumerGroupCommand|pre|list, describe, reset offsets of, delete consumer groups
console-consumer|org.apache.kafka.tools.consumer.ConsoleConsumer|pre|print records of a topic
console-producer|org.apache.kafka.tools.ConsoleProducer|pre|write lines of stdin as records
configs|kafka.admin.ConfigCommand|pre|describe and alter topic, broker, client, group configs
get-offsets|org.apache.kafka.tools.GetOffsetShell|pre|earliest / latest / by-time offsets of partitions
delete-records|org.apache.kafka.tools.DeleteRecordsCommand|pre|delete records below an offset (--offset-json-file)
leader-election|org.apache.kafka.tools.LeaderElectionCommand|pre|elect preferred (or unclean) leaders
reassign-partitions|org.apache.kafka.tools.reassign.ReassignPartitionsCommand|pre|move partition replicas between brokers
metadata-quorum|org.apache.kafka.tools.MetadataQuorumCommand|pre|KRaft quorum: describe --status / --replication
log-dirs|org.apache.kafka.tools.LogDirsCommand|pre|log directories and partition sizes per broker (--describe)
dump-log|kafka.tools.DumpLogSegments|none|decode log segment / index / metadata log files (--files)
features|org.apache.kafka.tools.FeatureCommand|pre|describe, upgrade, downgrade feature levels (metadata.version ...)
producer-perf-test|org.apache.kafka.tools.ProducerPerformance|props|producer throughput and latency
consumer-perf-test|org.apache.kafka.tools.ConsumerPerformance|pre|consumer throughput
verifiable-producer|org.apache.kafka.tools.VerifiableProducer|pre|produce sequential values, JSON events of each ack
verifiable-consumer|org.apache.kafka.tools.VerifiableConsumer|pre|consume in a group, JSON events of each fetch and commit
e2e-latency|org.apache.kafka.tools.EndToEndLatency|none|end-to-end latency (positional: BROKERS TOPIC N ACKS SIZE)
broker-api-versions|org.apache.kafka.tools.BrokerApiVersionsCommand|pre|API versions each broker supports
acls|org.apache.kafka.tools.AclCommand|pre|list, add, remove ACLs
transactions|org.apache.kafka.tools.TransactionsCommand|pre|list, describe, abort transactions; find hanging ones
groups|org.apache.kafka.tools.GroupsCommand|pre|list groups of every type
share-groups|org.apache.kafka.tools.consumer.group.ShareGroupCommand|pre|list, describe, reset, delete share groups
streams-groups|org.apache.kafka.tools.streams.StreamsGroupCommand|pre|list, describe streams groups
client-metrics|org.apache.kafka.tools.ClientMetricsCommand|pre|client metrics subscriptions
delegation-tokens|org.apache.kafka.tools.DelegationTokenCommand|pre|create, renew, expire, describe delegation tokens
cluster|org.apache.kafka.tools.ClusterTool|post|cluster-id, list-endpoints, unregister a broker
storage|kafka.tools.StorageTool|none|inspect (info) or format a log directory
jmx|org.apache.kafka.tools.JmxTool|none|dump JMX values of a JVM
'

tool_list() {
  local name class how what
  printf 'Kafka %s command-line tools (scripts/kafka.sh [cluster] tool NAME [ARGS...]; NAME --help for its options):\n' "$KAFKA_VERSION"
  while IFS='|' read -r name class how what; do
    [[ -n $name ]] || continue
    printf '  %-20s %s\n  %-20s   %s\n' "$name" "$what" "" "$class"
  done <<<"$TOOLS"
}

# cmd_tool BOOTSTRAP NAME [ARGS...]: run Kafka's tool NAME; the bootstrap servers default to BOOTSTRAP.
cmd_tool() {
  local bootstrap=$1 name=${2:-} line="" class how what a given=0 help=0
  shift 2 || shift $#
  if [[ -z $name || $name == --list || $name == -l || $name == list ]]; then
    tool_list
    return 0
  fi
  local n c h w
  while IFS='|' read -r n c h w; do
    [[ $n == "$name" ]] && line="$c|$h|$w"
  done <<<"$TOOLS"
  [[ -n $line ]] || {
    tool_list >&2
    die "no tool named '$name'"
  }
  IFS='|' read -r class how what <<<"$line"
  for a in "$@"; do
    case $a in
    --bootstrap-server | --bootstrap-server=* | --bootstrap-controller | --bootstrap-controller=* | -b | -C | \
      --producer.config | bootstrap.servers=*) given=1 ;;
    -h | --help | --version) help=1 ;;
    esac
  done
  local -a args=("$@")
  if ((!given && !help)); then
    case $how in
    pre) args=(--bootstrap-server "$bootstrap" "$@") ;;
    post) (($# == 0)) || args=("$@" --bootstrap-server "$bootstrap") ;; # after the subcommand, so not without one
    props)
      # --producer-props takes the rest of its values up to the next option; a second occurrence would replace
      # the first, so the default goes into the user's list when there is one.
      args=()
      local added=0
      for a in "$@"; do
        args+=("$a")
        if [[ $a == --producer-props ]] && ((!added)); then
          args+=("bootstrap.servers=$bootstrap")
          added=1
        fi
      done
      ((added)) || args=(--producer-props "bootstrap.servers=$bootstrap" "$@")
      ;;
    esac
  fi
  fetched || cmd_fetch
  command -v java >/dev/null 2>&1 || need_java
  local -a heap_opts jvm_opts
  read -r -a heap_opts <<<"$TOOL_HEAP_OPTS"
  case $name in
  *perf-test | e2e-latency | verifiable-*) read -r -a jvm_opts <<<"$PERF_TOOL_JVM_OPTS" ;;
  *) read -r -a jvm_opts <<<"$TOOL_JVM_OPTS" ;;
  esac
  exec java "${heap_opts[@]}" "${jvm_opts[@]}" -Dlog4j2.configurationFile="$TOOL_LOG4J_CONFIG" \
    -cp "$LIBS_DIR/*" "$class" "${args[@]}"
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
  tool)
    init_paths
    cmd_tool "$HOST:$PORT" "$@"
    ;;
  cluster) cluster_main "$@" ;;
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
