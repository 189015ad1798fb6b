#!/bin/sh
# The estimate-against-simulate agreement matrix (bench/agreement_bench.cpp): zoo models x clusters
# x device counts x every candidate select generates. Arguments are passed to the bench
# (--models, --clusters, --gpus, --strategies, --jobs, --rows); the default is the whole matrix,
# which takes hours on the 2-core development VM. Results: bench/agreement-results.md.
#   bench/agreement.sh [BUILD_DIR] [ARGS...]   (default build)
set -eu
B=${1:-build}/bench/agreement_bench
[ $# -gt 0 ] && shift
git -C "$(dirname "$0")" rev-parse --short HEAD
date -u +%Y-%m-%dT%H:%MZ
uptime
"$B" "$@"
uptime
