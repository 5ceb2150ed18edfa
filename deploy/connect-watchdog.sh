#!/bin/sh
# connect-watchdog: the compose service next to the Kafka Connect worker.
# First it validates and registers every connector file in $CONNECTORS_DIR
# (deploy/connect-init.sh, next to this script; it exits 1 when that fails,
# so the container's restart policy tries again later), then it watches the
# worker for good: every $INTERVAL seconds it reads
# GET /connectors?expand=status and restarts a FAILED connector or task with
# POST /connectors/<name>/restart?includeTasks=true&onlyFailed=true.
#
# Why: Kafka Connect never restarts a failed task by itself. The MongoDB sink
# runs with mongo.errors.tolerance=data (connectors/connect/mongodb-sink.json):
# a document MongoDB rejects goes to the dead letter topic, but an
# unreachable MongoDB fails the task without committing its records, so that
# nothing is lost; this restarts it. A Debezium source that lost its database
# fails the same way and resumes from its stored binlog position.
#
# Backoff, per connector: $BACKOFF_MIN seconds after the first failure,
# doubling up to $BACKOFF_MAX while it keeps failing; back to the start once
# connector and tasks have been RUNNING for $STABLE seconds. Each restart is logged with the last
# "Caused by" line of the task's trace.
#
# It touches $HEARTBEAT_FILE on every round (the compose healthcheck looks at
# its age). POSIX sh + curl + awk: runs in curlimages/curl (busybox).
set -eu

CONNECT_URL=${CONNECT_URL:-http://connect:8083}
INTERVAL=${INTERVAL:-10}
BACKOFF_MIN=${BACKOFF_MIN:-10}
BACKOFF_MAX=${BACKOFF_MAX:-300}
STABLE=${STABLE:-120}
HEARTBEAT_FILE=${HEARTBEAT_FILE:-/tmp/connect-watchdog.alive}
REGISTER=${REGISTER:-true}

here=$(cd "$(dirname "$0")" && pwd)
log() { echo "connect-watchdog: $*" >&2; }

stop=0
trap 'stop=1' TERM INT

if [ "$REGISTER" = true ]; then
	sh "$here/connect-init.sh" || {
		log "registering the connectors failed (see above)"
		exit 1
	}
fi

state=$(mktemp -d)
body=$state/status.json
trap 'rm -rf "$state"' EXIT

# The flattener of connect-init.sh, for the status document.
eval "$(sed -n '/^json_flat() {$/,/^}$/p' "$here/connect-init.sh")"

# connectors FLAT: the names of the connectors in a flattened status.
connectors() {
	awk -F '\t' '$1 ~ /^\/[^\/]+\/status\/name$/ { print $2 }' "$1"
}

# failures FLAT NAME: "connector" and "task N" for each FAILED part of NAME.
failures() {
	awk -F '\t' -v n="$2" '
	$2 == "FAILED" && $1 == "/" n "/status/connector/state" { print "connector" }
	$2 == "FAILED" && index($1, "/" n "/status/tasks/") == 1 && $1 ~ /\/state$/ { split($1, p, "/"); t[p[5]] = 1 }
	$1 ~ /\/id$/ && index($1, "/" n "/status/tasks/") == 1 { split($1, p, "/"); id[p[5]] = $2 }
	END { for (k in t) print "task " id[k] }' "$1"
}

# cause FLAT NAME: the last "Caused by:" (else the first line) of the first
# trace of NAME.
cause() {
	awk -F '\t' -v n="$2" 'index($1, "/" n "/status/") == 1 && $1 ~ /\/trace$/ { print $2; exit }' "$1" |
		awk '{
			k = split($0, l, /\\n/); c = l[1]
			for (i = 1; i <= k; i++) if (l[i] ~ /^Caused by: /) c = l[i]
			print substr(c, 1, 300)
		}'
}

log "watching $CONNECT_URL every ${INTERVAL}s (restart backoff ${BACKOFF_MIN}s..${BACKOFF_MAX}s)"
while [ "$stop" -eq 0 ]; do
	date +%s >"$HEARTBEAT_FILE" 2>/dev/null || :
	if curl -fsS -o "$body" "$CONNECT_URL/connectors?expand=status" 2>"$state/err"; then
		json_flat "$body" >"$state/flat"
		now=$(date +%s)
		for name in $(connectors "$state/flat"); do
			case "$name" in *[!A-Za-z0-9._-]*) continue ;; esac
			failed=$(failures "$state/flat" "$name" | tr '\n' ',' | sed 's/,$//')
			if [ -z "$failed" ]; then
				[ -f "$state/$name.backoff" ] || continue
				# A restarted sink task can run for a while before it fails again
				# (the MongoDB driver waits 30 s for a server): the backoff is reset
				# only after $STABLE seconds without a failure.
				[ -f "$state/$name.since" ] || echo "$now" >"$state/$name.since"
				if [ $((now - $(cat "$state/$name.since"))) -ge "$STABLE" ]; then
					log "$name: running again for ${STABLE}s"
					rm -f "$state/$name.backoff" "$state/$name.next" "$state/$name.since"
				fi
				continue
			fi
			rm -f "$state/$name.since"
			next=$(cat "$state/$name.next" 2>/dev/null || echo 0)
			[ "$now" -ge "$next" ] || continue
			backoff=$(cat "$state/$name.backoff" 2>/dev/null || echo 0)
			if [ "$backoff" -eq 0 ]; then backoff=$BACKOFF_MIN; else backoff=$((backoff * 2)); fi
			[ "$backoff" -le "$BACKOFF_MAX" ] || backoff=$BACKOFF_MAX
			echo "$backoff" >"$state/$name.backoff"
			echo $((now + backoff)) >"$state/$name.next"
			log "$name: FAILED ($failed): $(cause "$state/flat" "$name")"
			code=$(curl -sS -o "$state/restart" -w '%{http_code}' -X POST \
				"$CONNECT_URL/connectors/$name/restart?includeTasks=true&onlyFailed=true" 2>>"$state/restart") || code=000
			case "$code" in
			2??) log "$name: restarted (HTTP $code); if it fails again, next restart in ${backoff}s" ;;
			*) log "$name: restart: HTTP $code: $(head -c 300 "$state/restart"); again in ${backoff}s" ;;
			esac
		done
	else
		log "$CONNECT_URL does not answer: $(head -c 200 "$state/err")"
	fi
	i=0
	while [ "$i" -lt "$INTERVAL" ] && [ "$stop" -eq 0 ]; do
		sleep 1
		i=$((i + 1))
	done
done
log "stopped"
