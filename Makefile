# orderstream: MySQL CDC -> Kafka -> Goka processors -> MongoDB, in Go.
#
#   make run        the whole pipeline on this machine until Ctrl-C (MariaDB
#                   installed/started by scripts/mariadb.sh; Kafka, registry,
#                   MongoDB in-process); make run ARGS='--orders 10000' for a
#                   bounded run that prints a summary and exits
#   make run-reset  forget the run's Kafka, registry and MongoDB data
#   make test       everything: starts MariaDB and Kafka (installing them when
#                   missing and root), checks generated code, runs all tests
#   make test-unit  unit tests only (no MariaDB, no Kafka)
#   make bench      end-to-end throughput and latency, table loading, on kfake and real Kafka
#   make build      binaries into ./bin
#   make infra      start the private MariaDB and the Kafka broker
#   make stop       stop them (and the 3-node Kafka cluster the failover
#                   tests start on demand, and a Kafka Connect worker
#                   scripts/connect.sh or the Connect test started)
#   make generate   regenerate avro/types.go from the .avsc files

SHELL := /bin/bash
GO    ?= go
# Source these before anything that needs the infrastructure.
ENV   := eval "$$(scripts/mariadb.sh env)" && export "$$(scripts/kafka.sh env)"

.PHONY: all build generate check-generate infra stop test test-unit vet bench clean run run-reset

all: build

build:
	$(GO) build -o bin/ ./cmd/...

run:
	scripts/mariadb.sh start
	$(GO) build -o bin/pipeline ./cmd/pipeline
	bin/pipeline $(ARGS)

run-reset:
	rm -rf .data/pipeline

generate:
	$(GO) generate ./...

# The generated Go must be exactly what go generate makes of the .avsc files.
check-generate: generate
	@git diff --exit-code -- avro/ || { echo "avro/ is not what 'go generate ./...' produces: commit the regenerated files" >&2; exit 1; }

infra:
	scripts/mariadb.sh start
	scripts/kafka.sh start

stop:
	-scripts/connect.sh stop
	-scripts/kafka.sh stop
	-scripts/kafka.sh cluster stop
	-scripts/mariadb.sh stop

vet:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }

test: infra vet check-generate
	$(ENV) && $(GO) test -count=1 -timeout 25m ./...

test-unit: vet
	$(GO) test -count=1 -short ./...

bench: infra
	$(GO) test -run '^$$' -bench . ./codecs/
	$(GO) test -run '^$$' -bench Memory ./kit/store/
	$(ENV) && $(GO) test -run '^$$' -bench TableLoad -benchtime 1x -timeout 30m ./kit/store/
	$(ENV) && $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 20m ./integration/ ./connectors/...

clean:
	rm -rf bin
