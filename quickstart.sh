#!/usr/bin/env bash
# Train examples/mnist.cnn for one epoch on the bundled MNIST and print its
# test accuracy. On a machine without a GPU, installs Mesa's lavapipe (a
# Vulkan driver that runs on the CPU) first.
set -euo pipefail
cd "$(dirname "$0")"

if ! ls /usr/share/vulkan/icd.d/*.json >/dev/null 2>&1; then
  sudo_if_needed=""
  [ "$(id -u)" -eq 0 ] || sudo_if_needed="sudo"
  echo "no Vulkan driver found: installing mesa-vulkan-drivers" >&2
  $sudo_if_needed apt-get update
  $sudo_if_needed apt-get install -y mesa-vulkan-drivers
fi

# The bundled copy of MNIST, so that this needs no network; `--data mnist`
# would download the official files once into ~/.cache/cnnc/data instead.
cargo run --release -- train examples/mnist.cnn --data mnist:data/mnist --epochs 1 "$@"
