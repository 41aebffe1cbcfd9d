/* Helpers shared by the Criterion tests: where the reference data and the dpkit binary are,
 * scratch directories, and running the CLI. */
#ifndef DPKIT_TESTS_TEST_UTIL_H
#define DPKIT_TESTS_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>

struct dp_train_state;

/* Path of a file under the reference data (tests/data, or $DPKIT_TESTDATA); tests/data/README.md
 * names the peer library and version behind each file. */
const char *test_data_path(const char *relative);
/* The dpkit program under test ($DPKIT_BIN, default build/dpkit). */
const char *test_dpkit_bin(void);
/* A fresh scratch directory under $TMPDIR (`make test` points TMPDIR at build/test-tmp and
 * empties it before each run). */
const char *test_temp_dir(void);
/* Runs `dpkit ARGS` through the shell, capturing stdout+stderr into *output (malloc'd, may be
 * NULL); returns the exit status. */
int test_run_dpkit(const char *args, char **output);
/* The same with printf-style arguments. */
int test_run_dpkitf(char **output, const char *format, ...) __attribute__((format(printf, 2, 3)));
/* 1 when dpkit was built with MPI (DPKIT_MPI) and mpirun is on the PATH. */
int test_mpi_available(void);
/* test_run_dpkitf under `mpirun -np RANKS --oversubscribe` (--allow-run-as-root as root), one
 * OpenMP thread per rank. */
int test_run_dpkit_ranks(int ranks, char **output, const char *format, ...)
    __attribute__((format(printf, 3, 4)));
/* A run of a few seconds that the command tests share (vary it with --set): 3 epochs of 10 steps
 * of DP-SGD at epsilon 4 on the synthetic set, linear on ScatterNet (J 2, L 4, order 1) features
 * after a private-bn release, so its ledger holds events of two kinds. */
extern const char test_tiny_config[];
/* A fresh scratch directory holding config_text as tiny.yaml (its path in config_path), with
 * DPKIT_CACHE pointed inside it so that tests never share a feature cache; NULL when the file
 * cannot be written. */
const char *test_run_dir(const char *config_text, char *config_path, size_t size);
/* max |a - b| / max |b| over n entries: the error of float32 values relative to the scale of a
 * float64 reference. */
double test_relative_error(const float *a, const double *b, size_t n);
/* The parameters of a model.h5 (/model/params, malloc'd); asserts that they are there. */
float *test_read_params(const char *path, size_t *count);
/* Trains `dpkit -q train CONFIG_PATH ARGS EXTRA[k] --output DIR/runK` for k < count (count at
 * most 8), asserting success; scale = the largest |parameter| of run 0, diff[k] = the largest
 * |difference| of run k's parameters from run 0's (diff[0] = 0). */
void test_train_and_compare(const char *config_path, const char *dir, const char *args,
                            const char *const *extra, int count, double *scale, double *diff);
/* --set arguments of adversarial training with a radius of 0 (PGD returns its input: plain
 * training) and with a radius of 0.1 (3 L-inf steps of 0.05). */
#define TEST_ADVERSARIAL_RADIUS_0 \
    "--set training.adversarial.norm=linf --set training.adversarial.epsilon=0 " \
    "--set training.adversarial.steps=1 --set training.adversarial.random_start=false"
#define TEST_ADVERSARIAL_RADIUS_01 \
    "--set training.adversarial.norm=linf --set training.adversarial.epsilon=0.1 " \
    "--set training.adversarial.step=0.05 --set training.adversarial.steps=3"
/* Reads a whole file (malloc'd, NUL-terminated); NULL if missing. */
char *test_read_file(const char *path, size_t *size);
/* Writes bytes to a file; returns 0 on success. */
int test_write_file(const char *path, const void *data, size_t size);
/* 1 if the dataset directory of NAME is present under $DPKIT_DATA or data/. */
const char *test_dataset_dir(const char *name);
/* A fresh training state: zeroed, sampling and noise streams keyed from `seed`, an empty
 * ledger (the optimizer is left to the caller). */
void test_train_state_init(struct dp_train_state *state, uint64_t seed);
/* Frees the state's optimizer and ledger. */
void test_train_state_free(struct dp_train_state *state);

#endif
