# shellcheck shell=bash
# Shared by scripts/kafka.sh and scripts/connect.sh (sourced): logging,
# locking, ports and processes, and installing Java and Maven from Debian when missing.
# The sourcing script sets PROG and APT_PACKAGES (and may set LOG_PREFIX and
# JAVA_FOR, what needs Java, for the messages) and STOP_TIMEOUT (seconds
# stop_pid waits after SIGTERM).

log() { printf '%s: %s%s\n' "$PROG" "${LOG_PREFIX:-}" "$*" >&2; }
die() {
  printf '%s: %serror: %s\n' "$PROG" "${LOG_PREFIX:-}" "$*" >&2
  exit 1
}

need_java() {
  command -v java >/dev/null 2>&1 || apt_install_or_die java
  local spec
  spec=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java\.specification\.version = //p')
  [[ ${spec%%.*} =~ ^[0-9]+$ ]] || die "could not tell the version of $(command -v java)"
  ((${spec%%.*} >= 17)) || die "${JAVA_FOR:-this} needs Java 17+, $(command -v java) is Java $spec (install openjdk-17-jre-headless)"
}

# abs_path PATH: absolute, normalised PATH (which need not exist yet).
abs_path() {
  realpath -m -- "$1"
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

check_port_number() {
  if ! [[ $2 =~ ^[0-9]+$ ]] || ((10#$2 < 1 || 10#$2 > 65535)); then
    die "$1 must be a port number, got '$2'"
  fi
}

# lock FILE: hold an exclusive lock on FILE (fd 9) until the script exits.
lock() {
  command -v flock >/dev/null 2>&1 || return 0
  mkdir -p -- "$(dirname -- "$1")"
  exec 9>"$1"
  flock -w 300 9 || die "could not lock $1 within 300 s (another $PROG running?)"
}

need_mvn() {
  command -v mvn >/dev/null 2>&1 || apt_install_or_die mvn
}

port_owner() {
  command -v ss >/dev/null 2>&1 || return 0
  ss -Hltnp "sport = :$1" 2>/dev/null | head -n 3 || true
}

# port_open HOST PORT: something accepts TCP connections on HOST:PORT.
port_open() {
  # shellcheck disable=SC2016 # expanded by the inner bash
  timeout 3 bash -c 'exec 3<>"/dev/tcp/$0/$1"' "$1" "$2" 2>/dev/null
}

# pid_alive PID: PID is a running process (not a zombie).
pid_alive() {
  local stat
  read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
  stat=${stat##*) } # "PID (COMM) STATE ..."
  [[ -n $stat && ${stat%% *} != [ZX] ]]
}

# stop_pid PID: SIGTERM, wait up to STOP_TIMEOUT, then SIGKILL.
stop_pid() {
  local pid=$1
  kill -TERM "$pid" 2>/dev/null || return 0
  await_exit "$pid" $((SECONDS + STOP_TIMEOUT))
}

# await_exit PID DEADLINE: wait for PID (already sent SIGTERM) to exit until
# SECONDS reaches DEADLINE, then SIGKILL it.
await_exit() {
  local pid=$1 deadline=$2
  while pid_alive "$pid"; do
    if ((SECONDS >= deadline)); then
      log "pid $pid still running after ${STOP_TIMEOUT} s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
      break
    fi
    sleep 0.2
  done
}

# stop_daemon PIDFN: stop the process whose pid PIDFN prints (the sourcing
# script's own check that the pid is still its process) under DATA_DIR's lock,
# and remove PID_FILE.
stop_daemon() {
  if [[ ! -d $DATA_DIR ]]; then
    log "not running"
    return 0
  fi
  lock "$DATA_DIR/.lock"
  local pid t0=$SECONDS
  if ! pid=$("$1"); then
    rm -f -- "$PID_FILE"
    log "not running"
    return 0
  fi
  log "stopping (pid $pid)"
  stop_pid "$pid"
  rm -f -- "$PID_FILE"
  log "stopped in $((SECONDS - t0)) s"
}
