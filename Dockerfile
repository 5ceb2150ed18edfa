# The orderstream services in one image: every command under cmd/ as a static
# binary in /usr/local/bin of a distroless image (no shell; healthchecks use
# /usr/local/bin/healthcheck). docker-compose.yml picks the binary with
# `command:`, e.g.
#
#   docker build -t orderstream/pipeline:dev .
#   docker run --rm orderstream/pipeline:dev /usr/local/bin/orders-details --help

FROM golang:1.26.8-bookworm AS build
WORKDIR /src

# Modules first, in a layer of their own: it is rebuilt only when go.mod or
# go.sum change, not on every source edit.
COPY go.mod go.sum ./
RUN go mod download && go mod verify

COPY . .
RUN --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/ ./cmd/...

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/ /usr/local/bin/
USER nonroot:nonroot
