#!/usr/bin/env bash
# Regenerates docs/web/index.png: trains examples/mnist.cnn (width 16, 20,000
# digits, two epochs: about a minute on lavapipe), exports it with
# `cnnc export --web`, serves it with `cnnc serve`, and has headless
# Chromium draw a 7 on the page (docs/web/screenshot.py).
#   bash docs/web/screenshot.sh   (needs chromium-headless-shell and ../shared/data/mnist)
set -euo pipefail
cd "$(dirname "$0")/../.."
work=$(mktemp -d)
trap 'kill ${server:-} 2>/dev/null; rm -rf "$work"' EXIT
cnnc=${CNNC:-target/release/cnnc}   # CNNC=target/debug/cnnc to skip the release build
[ -n "${CNNC:-}" ] || cargo build --release
$cnnc train examples/mnist.cnn --set width=16 --data mnist:../shared/data/mnist \
  --limit 20000 --val-limit 1000 --epochs 2 --seed 1 --out "$work/run"
$cnnc export examples/mnist.cnn --set width=16 --weights "$work/run/model.safetensors" --web "$work/site"
$cnnc serve "$work/site" > "$work/serve.log" &
server=$!
until grep -q http "$work/serve.log"; do sleep 0.2; done
url=$(grep -o 'http://[^ ]*' "$work/serve.log")
python3 docs/web/screenshot.py "$url" docs/web/index.png
