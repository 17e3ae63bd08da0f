#!/bin/sh
# The fuzz targets (tests/fuzz/), built without libFuzzer, run over their
# seeds: each target compiles, and its checks hold on every seed.  The
# fuzzing itself is `make fuzz`.
. "$TOP/tests/integration/lib.sh"
build=${BUILD:-build}
case $build in /*) ;; *) build=$TOP/$build ;; esac
sh "$TOP/tests/fuzz/run.sh" replay "$build/fuzz"
