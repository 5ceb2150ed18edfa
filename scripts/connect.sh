#!/usr/bin/env bash
# A real Kafka Connect worker (distributed mode, one node) for tests and CI, with the Debezium MariaDB and MySQL
# connectors and the MongoDB connector in its plugin path, run straight from the Maven Central jars (no tarball,
# no Docker, no Confluent Hub). See usage() below; the style and conventions are scripts/kafka.sh's.
set -euo pipefail

SCRIPT_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd -- "$SCRIPT_DIR/.." && pwd)
PROG=${0##*/}
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "$SCRIPT_DIR/lib/common.sh"

# One version of each, everywhere: keep equal to scripts/connect/pom.xml's defaults and connectors/README.md
# (connectors/connect_test.go checks the plugin versions the worker reports; docker-compose's connect-plugins
# runs this script's fetch, so compose gets the same).
KAFKA_VERSION=${KAFKA_VERSION:-4.1.1}
DEBEZIUM_VERSION=${DEBEZIUM_VERSION:-3.5.0.Final}
MONGO_CONNECTOR_VERSION=${MONGO_CONNECTOR_VERSION:-2.0.1}
POM=$SCRIPT_DIR/connect/pom.xml
HOST=127.0.0.1
PORT=${CONNECT_PORT:-18083}
BOOTSTRAP=${CONNECT_BOOTSTRAP_SERVERS:-${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:19092}}
GROUP_ID=${CONNECT_GROUP_ID:-local-connect}
START_TIMEOUT=${CONNECT_START_TIMEOUT:-180}
STOP_TIMEOUT=${CONNECT_STOP_TIMEOUT:-30}
HEAP_OPTS=${CONNECT_HEAP_OPTS:--Xms256m -Xmx1g}
JVM_OPTS=${CONNECT_JVM_OPTS:--XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:+ExitOnOutOfMemoryError -XX:TieredStopAtLevel=1 -Djava.awt.headless=true}
APT_PACKAGES=(openjdk-17-jre-headless maven)
JAVA_FOR="Kafka Connect $KAFKA_VERSION and Debezium $DEBEZIUM_VERSION"
# The connector classes `start` waits for in GET /connector-plugins (each plugin directory provides one).
WANT_PLUGINS=(
  io.debezium.connector.mariadb.MariaDbConnector
  io.debezium.connector.mysql.MySqlConnector
  com.mongodb.kafka.connect.MongoSinkConnector
)

usage() {
  cat <<EOF
Usage: $PROG COMMAND

A local Apache Kafka Connect $KAFKA_VERSION worker (distributed mode, a cluster of one) built from the Maven
Central jars, REST API on $HOST only, with these plugins, each in a directory of its own:
  Debezium $DEBEZIUM_VERSION MariaDB connector (io.debezium.connector.mariadb.MariaDbConnector)
  Debezium $DEBEZIUM_VERSION MySQL connector   (io.debezium.connector.mysql.MySqlConnector; MySQL, not MariaDB)
  MongoDB Kafka connector $MONGO_CONNECTOR_VERSION (com.mongodb.kafka.connect.MongoSinkConnector / MongoSourceConnector)
Its internal topics (replication factor 1) live on the Kafka broker at CONNECT_BOOTSTRAP_SERVERS.

Commands:
  fetch    download the worker jars and the plugin archives (once; cached) and exit
  start    fetch if needed, check the broker answers, start the worker in the background and wait until the REST
           API answers and GET /connector-plugins lists the plugins (${START_TIMEOUT}s timeout). Does nothing if
           it is already running.
  stop     SIGTERM, wait up to ${STOP_TIMEOUT}s, then SIGKILL. Does nothing if it is not running.
  status   exit 0 if running and answering, 1 if running but not answering, 3 if not running
  env      print CONNECT_URL=http://$HOST:<port> (one line; e.g. export "\$($PROG env)")
  logs     print the last 200 lines of the worker log; 'logs N' the last N; 'logs -f' follows it
  help     this text

Environment (defaults in brackets):
  CONNECT_PORT               REST API port [18083]
  CONNECT_BOOTSTRAP_SERVERS  Kafka [\$KAFKA_BOOTSTRAP_SERVERS, else 127.0.0.1:19092 (scripts/kafka.sh)]
  CONNECT_GROUP_ID           the Connect cluster's group id; also names its topics <id>-configs, <id>-offsets,
                             <id>-status [local-connect]. Two workers with one id on one broker form one cluster.
  CONNECT_DATA_DIR           config, pid file and logs [<repo>/.data/connect]
  CONNECT_CACHE_DIR          downloaded jars and plugins [<repo>/.cache/connect-<versions>]
  CONNECT_START_TIMEOUT      seconds to wait for readiness [180]
  CONNECT_STOP_TIMEOUT       seconds to wait after SIGTERM [30]
  CONNECT_HEAP_OPTS          JVM heap flags [-Xms256m -Xmx1g]
  CONNECT_JVM_OPTS           other JVM flags [G1, C1 only (faster start), exit on OOM]
  CONNECT_EXTRA_CONFIG       extra worker properties (key=value, newline separated; they win)
  KAFKA_VERSION, DEBEZIUM_VERSION, MONGO_CONNECTOR_VERSION   [$KAFKA_VERSION, $DEBEZIUM_VERSION, $MONGO_CONNECTOR_VERSION]

The worker has config.providers=env: a connector setting \${env:NAME} is read from the environment the worker
was started with (i.e. of '$PROG start'), e.g. MYSQL_USER, MYSQL_PASSWORD, MONGODB_URI of connectors/connect/.

Needs java (17+) and, to fetch, mvn. When missing and running as root, installs the Debian packages
${APT_PACKAGES[*]} with apt-get. Jars are cached in CONNECT_CACHE_DIR and ~/.m2.

Example:
  scripts/kafka.sh start && scripts/connect.sh start && export "\$(scripts/connect.sh env)"
  curl -s "\$CONNECT_URL/connector-plugins"
EOF
}




init_paths() {
  check_port_number CONNECT_PORT "$PORT"
  [[ $START_TIMEOUT =~ ^[0-9]+$ ]] || die "CONNECT_START_TIMEOUT must be a number of seconds"
  [[ $STOP_TIMEOUT =~ ^[0-9]+$ ]] || die "CONNECT_STOP_TIMEOUT must be a number of seconds"
  [[ $GROUP_ID =~ ^[A-Za-z0-9._-]+$ ]] || die "CONNECT_GROUP_ID must be letters, digits, . _ - (it names topics), got '$GROUP_ID'"
  [[ -n $BOOTSTRAP ]] || die "CONNECT_BOOTSTRAP_SERVERS is empty"
  CACHE_DIR=$(abs_path "${CONNECT_CACHE_DIR:-$REPO_ROOT/.cache/connect-$KAFKA_VERSION-debezium-$DEBEZIUM_VERSION-mongo-$MONGO_CONNECTOR_VERSION}")
  LIBS_DIR=$CACHE_DIR/libs
  PLUGINS_DIR=$CACHE_DIR/plugins
  MARKER=$CACHE_DIR/.fetch-complete
  DATA_DIR=$(abs_path "${CONNECT_DATA_DIR:-$REPO_ROOT/.data/connect}")
  LOG_DIR=$DATA_DIR/logs
  WORKER_LOG=$LOG_DIR/connect.log
  STDOUT_LOG=$LOG_DIR/stdout.log
  PID_FILE=$DATA_DIR/connect.pid
  CONFIG=$DATA_DIR/connect-distributed.properties
  LOG4J_CONFIG=$DATA_DIR/log4j2.properties
}





fetch_wanted() {
  printf 'kafka=%s debezium=%s mongo=%s pom=%s script-layout=3\n' "$KAFKA_VERSION" "$DEBEZIUM_VERSION" \
    "$MONGO_CONNECTOR_VERSION" "$(sha256sum "$POM" | cut -d' ' -f1)"
}

fetched() {
  [[ -f $MARKER && $(<"$MARKER") == "$(fetch_wanted)" && -f $LIBS_DIR/connect-runtime-$KAFKA_VERSION.jar ]]
}

# unpack_plugins ARCHIVES DEST: one directory per plugin under DEST, without the jars the worker provides.
unpack_plugins() {
  local archives=$1 dest=$2 a dir
  mkdir -p -- "$dest"
  for a in debezium-connector-mariadb debezium-connector-mysql; do
    tar -xzf "$archives/$a-$DEBEZIUM_VERSION-plugin.tar.gz" -C "$dest" || return 1
    [[ -f $dest/$a/$a-$DEBEZIUM_VERSION.jar ]] || {
      log "$a-$DEBEZIUM_VERSION-plugin.tar.gz has no $a/$a-$DEBEZIUM_VERSION.jar"
      return 1
    }
    # The worker's kafka-clients (and its compression libraries), connect-api and slf4j-api serve every plugin
    # (Connect loads org.apache.kafka.* and org.slf4j.* from the worker's class loader); a second copy in a
    # plugin directory only invites version skew.
    rm -f -- "$dest/$a"/kafka-clients-*.jar "$dest/$a"/connect-api-*.jar "$dest/$a"/slf4j-api-*.jar \
      "$dest/$a"/lz4-java-*.jar "$dest/$a"/snappy-java-*.jar "$dest/$a"/zstd-jni-*.jar
    rm -f -- "$dest/$a"/*.md "$dest/$a"/*.txt
  done
  dir=$dest/mongo-kafka-connect
  mkdir -p -- "$dir"
  cp -- "$archives/mongo-kafka-connect-$MONGO_CONNECTOR_VERSION-all.jar" "$dir/" || return 1
  # The MongoDB connector's jar has no ServiceLoader manifests; Debezium's have. With them the worker can use
  # plugin.discovery=service_load, which finds the plugins in ~0.5 s instead of the ~15 s its reflective scan
  # of every class takes here. The manifests are what Kafka's `connect-plugin-path sync-manifests` would add.
  write_stored_zip "$dir/orderstream-service-manifests.jar" \
    META-INF/services/org.apache.kafka.connect.sink.SinkConnector "com.mongodb.kafka.connect.MongoSinkConnector" \
    META-INF/services/org.apache.kafka.connect.source.SourceConnector "com.mongodb.kafka.connect.MongoSourceConnector" ||
    return 1
}

# le16 N / le32 N: N as 2 / 4 little-endian bytes.
# shellcheck disable=SC2059 # the format is the escape sequence built here
le16() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $((($1 >> 8) & 255)))"; }
le32() { le16 $(($1 & 65535)); le16 $((($1 >> 16) & 65535)); }

# write_stored_zip FILE NAME TEXT [NAME TEXT ...]: a zip (jar) of uncompressed entries NAME with content TEXT
# plus a newline. Written by hand, as the Java runtime alone (no JDK) has no jar tool; gzip's trailer gives the
# CRC-32.
write_stored_zip() {
  local out=$1 tmp=$1.tmp
  shift
  local -a names=() sizes=() crcs=() offsets=()
  local off=0 name body size crc i cd_start cd_size
  : >"$tmp" || return 1
  while (($# >= 2)); do
    name=$1 body=$2$'\n'
    shift 2
    size=${#body}
    # gzip's trailer: CRC-32 (4 bytes, little-endian) and the input size.
    crc=$(printf '%s' "$body" | gzip -c | tail -c 8 | head -c 4 | od -An -tu4 | tr -d ' \n')
    [[ $crc =~ ^[0-9]+$ ]] || return 1
    names+=("$name") sizes+=("$size") crcs+=("$crc") offsets+=("$off")
    {
      printf 'PK\x03\x04'
      le16 10; le16 0; le16 0; le16 0; le16 33 # version, flags, stored, time, date (1980-01-01)
      le32 "$crc"; le32 "$size"; le32 "$size"
      le16 ${#name}; le16 0
      printf '%s' "$name" "$body"
    } >>"$tmp"
    off=$(stat -c %s "$tmp")
  done
  cd_start=$off
  for i in "${!names[@]}"; do
    {
      printf 'PK\x01\x02'
      le16 20; le16 10; le16 0; le16 0; le16 0; le16 33
      le32 "${crcs[$i]}"; le32 "${sizes[$i]}"; le32 "${sizes[$i]}"
      le16 ${#names[$i]}; le16 0; le16 0; le16 0; le16 0; le32 0
      le32 "${offsets[$i]}"
      printf '%s' "${names[$i]}"
    } >>"$tmp"
  done
  cd_size=$(($(stat -c %s "$tmp") - cd_start))
  {
    printf 'PK\x05\x06'
    le16 0; le16 0; le16 ${#names[@]}; le16 ${#names[@]}
    le32 "$cd_size"; le32 "$cd_start"; le16 0
  } >>"$tmp"
  mv -- "$tmp" "$out"
}

cmd_fetch() {
  [[ -f $POM ]] || die "missing $POM"
  if fetched; then
    log "Kafka Connect $KAFKA_VERSION and plugins already in $CACHE_DIR"
    return 0
  fi
  lock "$CACHE_DIR/.lock"
  if fetched; then # someone else fetched while we waited for the lock
    log "Kafka Connect $KAFKA_VERSION and plugins already in $CACHE_DIR"
    return 0
  fi
  need_java
  need_mvn
  command -v tar >/dev/null 2>&1 || die "tar not found (needed to unpack the Debezium plugin archives)"
  local tmp=$CACHE_DIR/fetch.tmp.$$ start=$SECONDS
  rm -rf -- "$tmp"
  log "fetching Kafka Connect $KAFKA_VERSION, Debezium $DEBEZIUM_VERSION (MariaDB, MySQL), MongoDB connector $MONGO_CONNECTOR_VERSION (Maven) into $CACHE_DIR"
  if ! mvn -B -ntp -f "$POM" -Dkafka.version="$KAFKA_VERSION" -Ddebezium.version="$DEBEZIUM_VERSION" \
    -Dmongo.connector.version="$MONGO_CONNECTOR_VERSION" \
    -Dconnect.libs.dir="$tmp/libs" -Dconnect.archives.dir="$tmp/archives" \
    dependency:copy-dependencies@worker dependency:copy@plugins >"$CACHE_DIR/mvn-fetch.log" 2>&1; then
    grep -E '\[(ERROR|WARNING)\]' "$CACHE_DIR/mvn-fetch.log" | head -n 40 >&2 || tail -n 40 "$CACHE_DIR/mvn-fetch.log" >&2
    rm -rf -- "$tmp"
    die "mvn failed to fetch Kafka Connect $KAFKA_VERSION / Debezium $DEBEZIUM_VERSION / mongo-kafka-connect $MONGO_CONNECTOR_VERSION (is Maven Central reachable? are these versions published?); full log: $CACHE_DIR/mvn-fetch.log"
  fi
  local jar
  for jar in "connect-runtime-$KAFKA_VERSION.jar" "connect-json-$KAFKA_VERSION.jar" \
    "connect-transforms-$KAFKA_VERSION.jar" "kafka-clients-$KAFKA_VERSION.jar"; do
    [[ -f $tmp/libs/$jar ]] || {
      rm -rf -- "$tmp"
      die "fetch incomplete: $jar missing"
    }
  done
  if ! unpack_plugins "$tmp/archives" "$tmp/plugins"; then
    rm -rf -- "$tmp"
    die "unpacking the plugin archives failed"
  fi
  rm -rf -- "$tmp/archives" "$LIBS_DIR" "$PLUGINS_DIR"
  mv -- "$tmp/libs" "$LIBS_DIR"
  mv -- "$tmp/plugins" "$PLUGINS_DIR"
  rm -rf -- "$tmp"
  fetch_wanted >"$MARKER"
  log "fetched $(find "$LIBS_DIR" -name '*.jar' | wc -l) worker jars and $(find "$PLUGINS_DIR" -name '*.jar' | wc -l) plugin jars in $((SECONDS - start)) s"
}

# pid of our worker, if it is running (checks the command line, so a recycled pid is not mistaken for it).
worker_pid() {
  local pid
  [[ -f $PID_FILE ]] || return 1
  pid=$(<"$PID_FILE")
  [[ $pid =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF " org.apache.kafka.connect.cli.ConnectDistributed $CONFIG" || return 1
  printf '%s\n' "$pid"
}


# rest GET PATH: the body of a GET on the worker's REST API, or fail.
rest_get() {
  curl -fsS --max-time 5 "http://$HOST:$PORT$1" 2>/dev/null
}

# missing_plugins: the WANT_PLUGINS classes GET /connector-plugins does not list (all of them if it fails).
missing_plugins() {
  local body c
  body=$(rest_get /connector-plugins) || body=
  for c in "${WANT_PLUGINS[@]}"; do
    [[ $body == *"\"class\":\"$c\""* ]] || printf '%s\n' "$c"
  done
}

# worker_ready: the REST API answers GET /connectors (the herder has joined its group and read the config
# topic) and lists every plugin.
worker_ready() {
  rest_get /connectors >/dev/null || return 1
  [[ -z $(missing_plugins) ]]
}

# check_bootstrap: at least one bootstrap server accepts TCP connections.
check_bootstrap() {
  local s hp host port
  IFS=, read -r -a servers <<<"$BOOTSTRAP"
  for s in "${servers[@]}"; do
    hp=${s##*://}
    host=${hp%:*}
    port=${hp##*:}
    host=${host#[}
    host=${host%]}
    [[ -n $host && $port =~ ^[0-9]+$ ]] || die "CONNECT_BOOTSTRAP_SERVERS: '$s' is not host:port"
    if port_open "$host" "$port"; then
      return 0
    fi
  done
  die "no Kafka broker answers at $BOOTSTRAP (CONNECT_BOOTSTRAP_SERVERS / KAFKA_BOOTSTRAP_SERVERS): start one with scripts/kafka.sh start"
}

show_log_tail() {
  local f errors
  errors=$(grep -m 8 -A 2 -E '^\[[^]]*\] (ERROR|FATAL) ' "$WORKER_LOG" 2>/dev/null | cut -c1-400 || true)
  if [[ -n $errors ]]; then
    printf '%s: ---- first errors in %s ----\n%s\n' "$PROG" "$WORKER_LOG" "$errors" >&2
  fi
  for f in "$WORKER_LOG" "$STDOUT_LOG"; do
    [[ -s $f ]] || continue
    printf '%s: ---- last lines of %s ----\n' "$PROG" "$f" >&2
    tail -n 30 -- "$f" >&2
  done
}

write_configs() {
  cat >"$CONFIG" <<EOF
# Generated by scripts/connect.sh on every start; edits are overwritten (use CONNECT_EXTRA_CONFIG).
bootstrap.servers=$BOOTSTRAP
group.id=$GROUP_ID
config.storage.topic=$GROUP_ID-configs
offset.storage.topic=$GROUP_ID-offsets
status.storage.topic=$GROUP_ID-status
# single broker
config.storage.replication.factor=1
offset.storage.replication.factor=1
status.storage.replication.factor=1
offset.storage.partitions=5
status.storage.partitions=3
# A cluster of one: a restarted worker gets its connectors back at once instead of after the default
# 5 minutes the leader waits for a departed member to return.
scheduled.rebalance.max.delay.ms=0

listeners=http://$HOST:$PORT
rest.advertised.host.name=$HOST
rest.advertised.port=$PORT
rest.advertised.listener=http

# Defaults for connectors that set no converters of their own (ours all set the key converter).
key.converter=org.apache.kafka.connect.storage.StringConverter
value.converter=org.apache.kafka.connect.json.JsonConverter
value.converter.schemas.enable=true

# \${env:NAME} in connector configurations (KIP-887), as docker-compose's worker has it.
config.providers=env
config.providers.env.class=org.apache.kafka.common.config.provider.EnvVarConfigProvider

plugin.path=$PLUGINS_DIR
# Every plugin has ServiceLoader manifests (see unpack_plugins): no reflective scan of all classes.
plugin.discovery=service_load
topic.creation.enable=true
offset.flush.interval.ms=1000
task.shutdown.graceful.timeout.ms=10000
EOF
  if [[ -n ${CONNECT_EXTRA_CONFIG:-} ]]; then
    printf '\n# CONNECT_EXTRA_CONFIG\n%s\n' "$CONNECT_EXTRA_CONFIG" >>"$CONFIG"
  fi

  cat >"$LOG4J_CONFIG" <<EOF
# Generated by scripts/connect.sh on every start.
status = warn
name = local-connect
appender.file.type = RollingFile
appender.file.name = FILE
appender.file.fileName = $WORKER_LOG
appender.file.filePattern = $WORKER_LOG.%i
appender.file.layout.type = PatternLayout
appender.file.layout.pattern = [%d] %p %X{connector.context}%m (%c)%n
appender.file.policies.type = Policies
appender.file.policies.size.type = SizeBasedTriggeringPolicy
appender.file.policies.size.size = 50MB
appender.file.strategy.type = DefaultRolloverStrategy
appender.file.strategy.max = 3
rootLogger.level = INFO
rootLogger.appenderRef.file.ref = FILE
logger.reflections.name = org.reflections
logger.reflections.level = ERROR
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
logger.common.name = org.apache.kafka.common
logger.common.level = WARN
EOF
}

# wait_ready PID [ours]: until the REST API answers and lists the plugins. A worker this call started ("ours")
# that does not become ready is stopped; one that was running already is left alone.
wait_ready() {
  local pid=$1 ours=${2:-} deadline=$((SECONDS + START_TIMEOUT))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      rm -f -- "$PID_FILE"
      show_log_tail
      die "the worker (pid $pid) exited during startup; logs: $LOG_DIR"
    fi
    if worker_ready; then
      return 0
    fi
    if ((SECONDS >= deadline)); then
      show_log_tail
      local missing
      missing=$(missing_plugins | tr '\n' ' ')
      if [[ $ours == ours ]]; then
        log "stopping the worker that did not become ready"
        stop_pid "$pid"
        rm -f -- "$PID_FILE"
      fi
      if rest_get /connectors >/dev/null 2>&1; then
        die "the worker answered but GET /connector-plugins lacks: $missing(plugin path $PLUGINS_DIR); logs: $LOG_DIR"
      fi
      die "the worker was not ready on $HOST:$PORT after ${START_TIMEOUT} s (is the broker at $BOOTSTRAP healthy?); logs: $LOG_DIR"
    fi
    sleep 0.5
  done
}

cmd_start() {
  need_java
  command -v curl >/dev/null 2>&1 || die "curl not found (used to ask the worker's REST API whether it is ready)"
  cmd_fetch
  lock "$DATA_DIR/.lock"
  local pid t0=$SECONDS
  if pid=$(worker_pid); then
    local running_listener running_bootstrap
    running_listener=$(sed -n 's/^listeners=//p' "$CONFIG")
    running_bootstrap=$(sed -n 's/^bootstrap.servers=//p' "$CONFIG")
    if [[ $running_listener != "http://$HOST:$PORT" || $running_bootstrap != "$BOOTSTRAP" ]]; then
      die "a worker of CONNECT_DATA_DIR=$DATA_DIR is running (pid $pid) on $running_listener with Kafka $running_bootstrap, not on http://$HOST:$PORT with Kafka $BOOTSTRAP: stop it first ($PROG stop), or use another CONNECT_DATA_DIR"
    fi
    if worker_ready; then
      log "already running (pid $pid) on http://$HOST:$PORT, Kafka $(sed -n 's/^bootstrap.servers=//p' "$CONFIG")"
      return 0
    fi
    log "running (pid $pid) but not ready yet on $HOST:$PORT: waiting"
    wait_ready "$pid"
    log "ready on http://$HOST:$PORT (pid $pid)"
    return 0
  fi
  rm -f -- "$PID_FILE"
  if port_open "$HOST" "$PORT"; then
    local owner
    owner=$(port_owner "$PORT")
    die "port $HOST:$PORT is already in use by another process${owner:+:
$owner}
(not a worker started by this script with CONNECT_DATA_DIR=$DATA_DIR). Stop it, or set CONNECT_PORT."
  fi
  check_bootstrap
  mkdir -p -- "$LOG_DIR"
  [[ -f $WORKER_LOG ]] && mv -f -- "$WORKER_LOG" "$LOG_DIR/previous-connect.log"
  [[ -f $STDOUT_LOG ]] && mv -f -- "$STDOUT_LOG" "$LOG_DIR/previous-stdout.log"
  write_configs

  local -a heap_opts jvm_opts
  read -r -a heap_opts <<<"$HEAP_OPTS"
  read -r -a jvm_opts <<<"$JVM_OPTS"
  log "starting Kafka Connect $KAFKA_VERSION on http://$HOST:$PORT (group $GROUP_ID, Kafka $BOOTSTRAP), data in $DATA_DIR"
  nohup java "${heap_opts[@]}" "${jvm_opts[@]}" \
    -Dlog4j2.configurationFile="$LOG4J_CONFIG" -Dkafka.logs.dir="$LOG_DIR" \
    -cp "$LIBS_DIR/*" org.apache.kafka.connect.cli.ConnectDistributed "$CONFIG" </dev/null >"$STDOUT_LOG" 2>&1 9>&- &
  pid=$!
  printf '%s\n' "$pid" >"$PID_FILE"
  wait_ready "$pid" ours
  log "ready on http://$HOST:$PORT (pid $pid) in $((SECONDS - t0)) s"
}

cmd_stop() { stop_daemon worker_pid; }

cmd_status() {
  local pid
  if ! pid=$(worker_pid); then
    echo "not running (data dir $DATA_DIR)"
    return 3
  fi
  if worker_ready; then
    echo "running (pid $pid), REST http://$HOST:$PORT, Kafka $(sed -n 's/^bootstrap.servers=//p' "$CONFIG"), group $(sed -n 's/^group.id=//p' "$CONFIG"), data dir $DATA_DIR"
    return 0
  fi
  echo "running (pid $pid) but not ready on http://$HOST:$PORT (starting, stopping, or plugins missing: $(missing_plugins | tr '\n' ' '))"
  return 1
}

cmd_logs() {
  [[ -f $WORKER_LOG ]] || die "no worker log yet ($WORKER_LOG)"
  if [[ ${1:-} == -f ]]; then
    exec tail -n 100 -F -- "$WORKER_LOG"
  fi
  [[ ${1:-200} =~ ^[0-9]+$ ]] || die "usage: $PROG logs [-f | LINES]"
  tail -n "${1:-200}" -- "$WORKER_LOG"
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
  env)
    check_port_number CONNECT_PORT "$PORT"
    printf 'CONNECT_URL=http://%s:%s\n' "$HOST" "$PORT"
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
