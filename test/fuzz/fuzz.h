/*
 * fuzz.h: what every fuzz target in test/fuzz defines. Each target is one
 * LLVMFuzzerTestOneInput, built twice: with libFuzzer (TP_FUZZ=ON, clang,
 * run by run.sh) and with replay_main.c (every build, replayed by ctest over
 * the seed corpus and the regression inputs). A target aborts on a broken
 * property, so both builds report it as a crash.
 */
#ifndef TEST_FUZZ_H
#define TEST_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* FUZZ_CHECK aborts, saying which property broke, when cond is false. */
#define FUZZ_CHECK(cond)                                                \
	do {                                                            \
		if (!(cond)) {                                          \
			fprintf(stderr, "%s:%d: property broken: %s\n", \
			    __FILE__, __LINE__, #cond);                 \
			abort();                                        \
		}                                                       \
	} while (0)

#endif /* TEST_FUZZ_H */
