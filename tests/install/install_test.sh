#!/usr/bin/env bash
# Installs convscale into a temporary prefix, then builds and runs a project that uses
# find_package(convscale) -> convscale::model, and checks the man page and bash completion.
# Usage: install_test.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" >/dev/null
test -x "$tmp/prefix/bin/convscale"
test -s "$tmp/prefix/share/man/man1/convscale.1"
test -s "$tmp/prefix/share/bash-completion/completions/convscale"
bash -n "$tmp/prefix/share/bash-completion/completions/convscale"
cmake -S "$src/tests/install/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$tmp/prefix" >/dev/null
cmake --build "$tmp/consumer" >/dev/null
out=$("$tmp/consumer/consumer")
if [ "$out" != "25557032" ]; then
  echo "consumer printed '$out', expected 25557032 (ResNet-50 parameters)"
  exit 1
fi
echo "install test: binary, man page, completion and find_package(convscale) all work"
