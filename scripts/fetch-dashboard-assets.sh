#!/usr/bin/env bash
# Refreshes dashboard/assets: the chart library the dashboard's page uses
# (uPlot, MIT), taken from the npm registry and served from the binary, so
# that the dashboard works offline. Run it only to change the version:
#   scripts/fetch-dashboard-assets.sh            # the pinned version
#   UPLOT=1.6.32 scripts/fetch-dashboard-assets.sh
# `npm view uplot version` names the newest.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${UPLOT:-1.6.32}
dest=dashboard/assets/uplot
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "uplot@$version" >/dev/null && tar xzf uplot-*.tgz)
rm -rf "$dest" && mkdir -p "$dest"
cp "$tmp"/package/dist/uPlot.iife.min.js "$tmp"/package/dist/uPlot.min.css "$tmp"/package/LICENSE "$dest"/
echo "uplot@$version" >"$dest"/VERSION
echo "assets refreshed in $dest (uplot@$version)"
