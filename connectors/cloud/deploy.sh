#!/usr/bin/env bash
# Creates the fully-managed Confluent Cloud connectors described by the JSON
# files in this directory (or by the files given as arguments).
#
# The JSON files hold ${NAME} placeholders instead of secrets. This script
#   1. lists every placeholder of every file and stops, naming the missing ones,
#      unless each is set to a non-empty value in the environment;
#   2. substitutes the values into a private temporary copy (mode 600, removed
#      on exit), JSON-escaping them;
#   3. runs `confluent connect cluster create --config-file <copy>` per file.
# It prints file and variable names only, never a value.
#
# Usage:
#   connectors/cloud/deploy.sh [--check] [file.json ...]
#     --check   only verify that every referenced variable is set; create nothing
#
# Environment:
#   every ${NAME} used by the files (KAFKA_API_KEY, KAFKA_API_SECRET, MYSQL_HOST,
#   MYSQL_USER, MYSQL_PASSWORD, MONGODB_ATLAS_HOST, MONGODB_ATLAS_USER,
#   MONGODB_ATLAS_PASSWORD), and optionally CONFLUENT_ENVIRONMENT (env-...) and
#   CONFLUENT_CLUSTER (lkc-...), passed as --environment / --cluster; without them
#   the CLI uses the environment and cluster selected with `confluent ... use`.
#   Log in first: `confluent login --save`.
set -euo pipefail
# bash >= 5.2 would expand an unquoted & in a ${var//pattern/replacement}
# replacement; the replacement below is quoted, this is belt and braces.
shopt -u patsub_replacement 2>/dev/null || true

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d' | sed 's/^# \{0,1\}//'
}

check_only=false
files=()
while (($# > 0)); do
	case $1 in
	--check) check_only=true ;;
	-h | --help)
		usage
		exit 0
		;;
	-*)
		echo "deploy.sh: unknown option $1" >&2
		exit 2
		;;
	*) files+=("$1") ;;
	esac
	shift
done
if ((${#files[@]} == 0)); then
	files=("$here"/*.json)
fi

# placeholders NAME of ${NAME} in a file, one per line, sorted, unique
placeholders() {
	{ grep -oE '\$\{[A-Za-z_][A-Za-z0-9_]*\}' "$1" || true; } | sed -E 's/^\$\{(.*)\}$/\1/' | sort -u
}

missing=()
for f in "${files[@]}"; do
	if [[ ! -f $f ]]; then
		echo "deploy.sh: no such file: $f" >&2
		exit 2
	fi
	while IFS= read -r name; do
		[[ -n $name ]] || continue
		if [[ -z ${!name:-} ]]; then
			missing+=("$name (used by $(basename "$f"))")
		fi
	done < <(placeholders "$f")
done
if ((${#missing[@]} > 0)); then
	echo "deploy.sh: not set or empty, nothing created:" >&2
	printf '  %s\n' "${missing[@]}" >&2
	exit 1
fi
if $check_only; then
	echo "deploy.sh: every variable used by ${#files[@]} file(s) is set"
	exit 0
fi

if ! command -v confluent >/dev/null 2>&1; then
	echo "deploy.sh: the confluent CLI is not on PATH (https://docs.confluent.io/confluent-cli/current/install.html)" >&2
	exit 1
fi

flags=()
if [[ -n ${CONFLUENT_ENVIRONMENT:-} ]]; then flags+=(--environment "$CONFLUENT_ENVIRONMENT"); fi
if [[ -n ${CONFLUENT_CLUSTER:-} ]]; then flags+=(--cluster "$CONFLUENT_CLUSTER"); fi

umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# json_escape VALUE: VALUE as the inside of a JSON string
json_escape() {
	local s=$1
	s=${s//\\/\\\\}
	s=${s//\"/\\\"}
	s=${s//$'\n'/\\n}
	s=${s//$'\r'/\\r}
	s=${s//$'\t'/\\t}
	printf '%s' "$s"
}

render() { # render IN OUT: one left-to-right pass, so a value is never rescanned
	local rest out="" match name re='\$\{([A-Za-z_][A-Za-z0-9_]*)\}'
	rest=$(<"$1")
	while [[ $rest =~ $re ]]; do
		match=${BASH_REMATCH[0]}
		name=${BASH_REMATCH[1]}
		out+=${rest%%"$match"*}$(json_escape "${!name}")
		rest=${rest#*"$match"}
	done
	printf '%s%s\n' "$out" "$rest" >"$2"
}

for f in "${files[@]}"; do
	out="$tmp/$(basename "$f")"
	render "$f" "$out"
	echo "deploy.sh: creating connector from $(basename "$f")"
	confluent connect cluster create --config-file "$out" ${flags[@]+"${flags[@]}"}
done
