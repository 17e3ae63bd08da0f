/*
 * The fuzz targets: each tests/fuzz/fuzz_*.c defines libFuzzer's entry
 * point for one of converge's readers of untrusted text.
 *
 * A target is built twice.  `make fuzz` links it with libFuzzer (clang,
 * -fsanitize=fuzzer plus ASan and UBSan) and runs it; `make test` links it
 * with replay.c, which feeds it every file of its seed corpus, so that each
 * target compiles, runs and passes its own checks in every test run (and
 * under the sanitizers in CI).
 *
 * A target aborts (through fuzz_check) when a property it checks does not
 * hold, so that libFuzzer keeps the input as a crash.
 */
#ifndef CONVERGE_FUZZ_H
#define CONVERGE_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Writes `size` bytes to NAME in a scratch directory of this process
 * (made on first use, removed at exit) and returns the file's path.
 * The readers under test take paths, as the command line gives them.
 */
const char *fuzz_scratch(const char *name, const uint8_t *data, size_t size);

/* Aborts with a message when `ok` is false. */
void fuzz_check(int ok, const char *what, const uint8_t *data, size_t size);

#endif
