#!/bin/sh
# connect-init: registers every connector file in $CONNECTORS_DIR (compose
# mounts ./connectors/connect there) with the Kafka Connect worker at
# $CONNECT_URL, then exits: 0 when all are registered, 1 otherwise.
#
# Each file has the shape {"name": ..., "config": {...}} (see
# connectors/README.md). It is sent as PUT /connectors/<name>/config with
# the inner "config" object, which creates the connector or updates its
# configuration: running it again is harmless (idempotent).
#
# POSIX sh + curl + awk only: runs in curlimages/curl (busybox), which has no
# jq. A request that fails (the worker still joining its group answers 409 or
# 500, Debezium's validation answers 400 while MySQL is unreachable) is tried
# again every $DELAY seconds, $ATTEMPTS times.
set -eu

CONNECT_URL=${CONNECT_URL:-http://connect:8083}
CONNECTORS_DIR=${CONNECTORS_DIR:-/connectors}
ATTEMPTS=${ATTEMPTS:-60}
DELAY=${DELAY:-5}

log() { echo "connect-init: $*" >&2; }

# json_member KEY FILE prints the JSON text of member KEY of the top-level
# object in FILE (an object as written, a string with its quotes); exit 1
# when there is no such member. A small scanner that knows strings and
# escapes, so braces and commas inside values do not confuse it.
json_member() {
	awk -v want="$1" '
	{ s = s $0 "\n" }
	END {
		n = length(s); depth = 0; instr = 0; esc = 0
		expectkey = 0; inkey = 0; key = ""; kstart = 0; vstart = 0
		for (i = 1; i <= n; i++) {
			c = substr(s, i, 1)
			if (instr) {
				if (esc) esc = 0
				else if (c == "\\") esc = 1
				else if (c == "\"") {
					instr = 0
					if (inkey) { key = substr(s, kstart, i - kstart); inkey = 0 }
				}
				continue
			}
			if (c == "\"") {
				instr = 1
				if (depth == 1 && expectkey) { inkey = 1; kstart = i + 1; expectkey = 0 }
				continue
			}
			if (c == "{" || c == "[") {
				depth++
				if (depth == 1 && c == "{") expectkey = 1
				continue
			}
			if (depth == 1 && (c == "," || c == "}")) {
				if (vstart) { print substr(s, vstart, i - vstart); exit 0 }
				expectkey = 1; key = ""
			}
			if (c == "}" || c == "]") { depth--; continue }
			if (depth == 1 && c == ":" && key == want && !vstart) vstart = i + 1
		}
		exit 1
	}' "$2"
}

# Wait for the REST API (compose also waits for the healthcheck).
i=0
until curl -fsS -o /dev/null "$CONNECT_URL/connectors" 2>/dev/null; do
	i=$((i + 1))
	if [ "$i" -ge "$ATTEMPTS" ]; then
		log "$CONNECT_URL does not answer after $ATTEMPTS attempts"
		exit 1
	fi
	log "waiting for $CONNECT_URL ($i/$ATTEMPTS)"
	sleep "$DELAY"
done

tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT

count=0
failed=0
for f in "$CONNECTORS_DIR"/*.json; do
	if [ ! -f "$f" ]; then
		log "no *.json in $CONNECTORS_DIR"
		exit 1
	fi
	count=$((count + 1))
	name=$(json_member name "$f" | tr -d '\r\n' | sed -e 's/^[[:space:]]*"//' -e 's/"[[:space:]]*$//')
	case "$name" in
	"" | *[!A-Za-z0-9._-]*)
		log "$f: no usable top-level \"name\" (want letters, digits, . _ -): '$name'"
		failed=$((failed + 1))
		continue
		;;
	esac
	if ! config=$(json_member config "$f"); then
		log "$f: no top-level \"config\" object"
		failed=$((failed + 1))
		continue
	fi
	i=0
	while :; do
		i=$((i + 1))
		code=$(printf '%s\n' "$config" | curl -sS -o "$tmp" -w '%{http_code}' -X PUT \
			-H 'Content-Type: application/json' --data-binary @- \
			"$CONNECT_URL/connectors/$name/config" 2>>"$tmp") || code=000
		case "$code" in
		200) log "$name: updated ($f)"; break ;;
		201) log "$name: created ($f)"; break ;;
		2??) log "$name: HTTP $code ($f)"; break ;;
		esac
		if [ "$i" -ge "$ATTEMPTS" ]; then
			log "$name: HTTP $code after $ATTEMPTS attempts: $(head -c 2000 "$tmp")"
			failed=$((failed + 1))
			break
		fi
		log "$name: HTTP $code, again in ${DELAY}s ($i/$ATTEMPTS): $(head -c 300 "$tmp")"
		sleep "$DELAY"
	done
done

if [ "$failed" -gt 0 ]; then
	log "$failed of $count connectors not registered"
	exit 1
fi
log "$count connectors registered: $(curl -fsS "$CONNECT_URL/connectors" 2>/dev/null || echo '?')"
