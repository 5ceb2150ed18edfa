#!/bin/sh
# connect-start: the command of the compose service `connect`
# (confluentinc/cp-kafka-connect). Installs the connector plugins the files
# in connectors/connect/ need from Confluent Hub, then replaces itself with
# the image's own entry point, which starts the worker. The Avro converter
# ships with the image (/usr/share/java).
#
# Needs Confluent Hub to be reachable at the first start of a container; a
# restarted container (same file system) skips plugins already installed.
set -eu

COMPONENTS=/usr/share/confluent-hub-components

# install OWNER/NAME:VERSION: once per container and version.
install() {
	marker="$COMPONENTS/.installed-$(echo "$1" | tr '/:' '--')"
	if [ -e "$marker" ]; then
		echo "connect-start: $1 already installed"
		return
	fi
	echo "connect-start: installing $1 from Confluent Hub"
	confluent-hub install --no-prompt --component-dir "$COMPONENTS" "$1"
	touch "$marker"
}

mkdir -p "$COMPONENTS"
install debezium/debezium-connector-mysql:2.7.3
install mongodb/kafka-connect-mongodb:1.14.1

exec /etc/confluent/docker/run
