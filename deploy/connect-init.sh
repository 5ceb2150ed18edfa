#!/bin/sh
# connect-init: validates and registers every connector file in
# $CONNECTORS_DIR (compose mounts ./connectors/connect there) with the Kafka
# Connect worker at $CONNECT_URL, then exits: 0 when all are registered, 1
# otherwise. deploy/connect-watchdog.sh runs it first, then keeps the
# connectors running; it can also be run on its own.
#
# Each file has the shape {"name": ..., "config": {...}} (see
# connectors/README.md). For each file:
#   1. PUT /connector-plugins/<connector.class>/config/validate with the
#      inner "config" object. The worker answers 200 with every setting's
#      errors (a wrong password, a missing privilege, an unknown
#      transform...): when there are any, they are printed, setting by
#      setting, and the file fails at once. There is no point in retrying
#      them, and registering anyway would only give an opaque error (the
#      Kafka Connect 4.1 worker answers such a PUT /connectors/<name>/config
#      with HTTP 500 and a NullPointerException message).
#   2. PUT /connectors/<name>/config, which creates the connector or updates
#      its configuration: running this again is harmless (idempotent).
# Only what can pass by itself is retried, every $DELAY seconds, $ATTEMPTS
# times: no answer, 409 (the worker is joining its group or rebalancing) and,
# when registering, 5xx. Anything else is printed and fails the file at once.
#
# POSIX sh + curl + awk only: runs in curlimages/curl (busybox), which has no
# jq.
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

# json_string TEXT: the value of a JSON string literal (quotes and
# surrounding space removed; escapes other than \" and \\ kept as written).
json_string() {
	printf '%s' "$1" | tr -d '\r\n' | sed -e 's/^[[:space:]]*"//' -e 's/"[[:space:]]*$//' -e 's/\\"/"/g' -e 's/\\\\/\\/g'
}

# json_flat FILE prints every scalar of the JSON document in FILE as a line
# PATH<TAB>VALUE, PATH the object keys and array indexes from the root
# (/configs/3/value/errors/0), VALUE a string's text with its escapes as
# written (so one value is one line), or the number, true, false, null.
json_flat() {
	awk '
	{ s = s $0 "\n" }
	function emit(v) { print path() "\t" v }
	function path(   p, k) { p = ""; for (k = 1; k <= d; k++) p = p "/" seg[k]; return p }
	END {
		n = length(s); d = 0
		for (i = 1; i <= n; i++) {
			c = substr(s, i, 1)
			if (c == "\"") {
				j = i + 1; v = ""
				while (j <= n) {
					c2 = substr(s, j, 1)
					if (c2 == "\\") { v = v substr(s, j, 2); j += 2; continue }
					if (c2 == "\"") break
					v = v c2; j++
				}
				i = j
				if (d > 0 && kind[d] == "o" && want_key[d]) { seg[d] = v; want_key[d] = 0 }
				else emit(v)
				continue
			}
			if (c == "{" || c == "[") {
				d++; kind[d] = (c == "{") ? "o" : "a"
				if (c == "{") want_key[d] = 1
				else { idx[d] = 0; seg[d] = 0 }
				continue
			}
			if (c == "}" || c == "]") { d--; continue }
			if (c == ",") {
				if (kind[d] == "o") want_key[d] = 1
				else { idx[d]++; seg[d] = idx[d] }
				continue
			}
			if (c ~ /[-0-9tfn]/) {
				j = i
				while (j <= n && substr(s, j, 1) ~ /[-+.0-9a-zA-Z]/) j++
				emit(substr(s, i, j - i)); i = j - 1
			}
		}
	}' "$1"
}

# validation_errors FILE: from a validate response, one line per error:
# "<setting>: <message>".
validation_errors() {
	json_flat "$1" | awk -F '\t' '
	$1 ~ /^\/configs\/[0-9]+\/value\/name$/ { split($1, p, "/"); name[p[3]] = $2 }
	$1 ~ /^\/configs\/[0-9]+\/value\/errors\/[0-9]+$/ { split($1, p, "/"); n++; at[n] = p[3]; msg[n] = $2 }
	END { for (k = 1; k <= n; k++) print name[at[k]] ": " msg[k] }'
}

# request METHOD URL BODY OUT: sends BODY (a JSON text) and prints the HTTP
# status (000 when there is no answer); the answer goes to OUT.
request() {
	printf '%s\n' "$3" | curl -sS -o "$4" -w '%{http_code}' -X "$1" \
		-H 'Content-Type: application/json' --data-binary @- "$2" 2>>"$4" || echo 000
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
cfgfile=$(mktemp)
trap 'rm -f "$tmp" "$cfgfile"' EXIT

# register NAME CONFIG FILE: validate, then create or update; 0 on success.
register() {
	name=$1 config=$2 f=$3
	printf '%s\n' "$config" >"$cfgfile"
	if ! class=$(json_member connector.class "$cfgfile"); then
		log "$name: no \"connector.class\" in the config ($f)"
		return 1
	fi
	class=$(json_string "$class")
	case "$class" in
	"" | *[!A-Za-z0-9._\$]*)
		log "$name: connector.class '$class' is not a class name ($f)"
		return 1
		;;
	esac

	i=0
	while :; do
		i=$((i + 1))
		: >"$tmp"
		code=$(request PUT "$CONNECT_URL/connector-plugins/$class/config/validate" "$config" "$tmp")
		case "$code" in
		200)
			errcount=$(json_member error_count "$tmp" 2>/dev/null | tr -d ' \r\n') || errcount=
			case "$errcount" in
			0) break ;;
			"" | *[!0-9]*)
				log "$name: the validation answer has no error_count: $(head -c 500 "$tmp")"
				return 1
				;;
			esac
			log "$name: the worker rejects the configuration ($f), $errcount error(s):"
			validation_errors "$tmp" | while IFS= read -r line; do log "  $line"; done
			return 1
			;;
		000 | 409) ;;
		5??)
			# Validation runs on the worker itself, without its group: a 5xx is
			# the connector's own failure (Debezium 3.6's MySqlConnector against
			# MariaDB makes the 4.1 worker answer 500 with an NPE), not a state
			# that passes.
			log "$name: the worker failed validating the configuration with connector.class $class ($f): HTTP $code: $(head -c 1000 "$tmp")"
			return 1
			;;
		*)
			log "$name: validating with connector.class $class ($f): HTTP $code: $(head -c 1000 "$tmp")"
			return 1
			;;
		esac
		if [ "$i" -ge "$ATTEMPTS" ]; then
			log "$name: validation: HTTP $code after $ATTEMPTS attempts: $(head -c 2000 "$tmp")"
			return 1
		fi
		log "$name: validation: HTTP $code, again in ${DELAY}s ($i/$ATTEMPTS): $(head -c 300 "$tmp")"
		sleep "$DELAY"
	done

	i=0
	while :; do
		i=$((i + 1))
		: >"$tmp"
		code=$(request PUT "$CONNECT_URL/connectors/$name/config" "$config" "$tmp")
		case "$code" in
		200) log "$name: updated ($f)"; return 0 ;;
		201) log "$name: created ($f)"; return 0 ;;
		2??) log "$name: HTTP $code ($f)"; return 0 ;;
		000 | 409 | 5??) ;;
		*)
			log "$name: HTTP $code: $(head -c 2000 "$tmp")"
			return 1
			;;
		esac
		if [ "$i" -ge "$ATTEMPTS" ]; then
			log "$name: HTTP $code after $ATTEMPTS attempts: $(head -c 2000 "$tmp")"
			return 1
		fi
		log "$name: HTTP $code, again in ${DELAY}s ($i/$ATTEMPTS): $(head -c 300 "$tmp")"
		sleep "$DELAY"
	done
}

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
	if ! register "$name" "$config" "$f"; then
		failed=$((failed + 1))
	fi
done

if [ "$failed" -gt 0 ]; then
	log "$failed of $count connectors not registered"
	exit 1
fi
log "$count connectors registered: $(curl -fsS "$CONNECT_URL/connectors" 2>/dev/null || echo '?')"
