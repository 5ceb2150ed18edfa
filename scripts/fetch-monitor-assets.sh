#!/usr/bin/env bash
# Refreshes dev/monitor/assets: the third-party files Goka's web pages
# load from public CDNs, taken from the npm registry at the versions the pages
# name, so that the monitor works offline. Run it only to change versions.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=dev/monitor/assets
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && for p in jquery@1.11.0 bootstrap@3.3.7 lodash@4.17.1 d3@4.13.0; do
  npm pack --silent "$p" >/dev/null
  mkdir -p "${p%@*}" && tar xzf "${p%@*}"-*.tgz -C "${p%@*}"
done)
rm -rf "$dest" && mkdir -p "$dest"/{bootstrap/css,bootstrap/js,bootstrap/fonts,jquery,lodash,d3}
cp "$tmp"/bootstrap/package/dist/css/bootstrap{,-theme}.min.css "$dest"/bootstrap/css/
cp "$tmp"/bootstrap/package/dist/js/bootstrap.min.js "$dest"/bootstrap/js/
cp "$tmp"/bootstrap/package/dist/fonts/*.woff* "$dest"/bootstrap/fonts/
cp "$tmp"/bootstrap/package/LICENSE "$dest"/bootstrap/
cp "$tmp"/jquery/package/dist/jquery.min.js "$dest"/jquery/ && cp "$tmp"/jquery/package/MIT-LICENSE.txt "$dest"/jquery/LICENSE
cp "$tmp"/lodash/package/{lodash.min.js,LICENSE} "$dest"/lodash/
cp "$tmp"/d3/package/build/d3.min.js "$tmp"/d3/package/LICENSE "$dest"/d3/
echo "assets refreshed in $dest"
