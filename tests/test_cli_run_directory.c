/* One run per directory and the run's time left: `dpkit train` refuses a directory that holds a
 * finished or started run unless --resume or --overwrite says what to do with it, --overwrite
 * replaces every file of the old run, and each epoch's log line ends with the run's elapsed
 * time and time left (not under -q). */
#include "tests/test_util.h"

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *config_text = "name: tiny\n"
                                 "seed: 3\n"
                                 "data: {dataset: synthetic}\n"
                                 "features: {extractor: raw}\n"
                                 "model: {kind: linear}\n"
                                 "privacy: {epsilon: 4.0, delta: 1e-5, max_grad_norm: 1.0,\n"
                                 "          reproducible_noise: true}\n"
                                 "training: {epochs: 2, batch_size: 100, physical_batch: 100,\n"
                                 "           optimizer: {kind: sgd, lr: 1}}\n";

static char dir[1024], config_path[1200];

static void setup_run(void)
{
    const char *d = test_run_dir(config_text, config_path, sizeof config_path);
    cr_assert_not_null(d);
    snprintf(dir, sizeof dir, "%s", d);
}

TestSuite(cli_run_directory, .init = setup_run);

static int exists(const char *name)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/run/%s", dir, name);
    struct stat st;
    return stat(path, &st) == 0;
}

static size_t lines_of(const char *name)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/run/%s", dir, name);
    char *text = test_read_file(path, NULL);
    cr_assert_not_null(text, "%s", path);
    size_t n = 0;
    for (const char *c = text; *c; c++)
        n += *c == '\n';
    free(text);
    return n;
}

/* The refusal names the directory, what it holds, and the three ways out. */
static void assert_refused(const char *out, const char *held)
{
    char expected[2048];
    snprintf(expected, sizeof expected, "output.dir: %s/run already holds a run (%s)", dir, held);
    cr_assert(strstr(out, expected) != NULL, "%s", out);
    cr_assert(strstr(out, "--output DIR") && strstr(out, "--resume") && strstr(out, "--overwrite"),
              "%s", out);
}

Test(cli_run_directory, a_finished_run_is_refused_and_overwrite_replaces_it)
{
    char *out;
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/run", config_path, dir), 0, "%s", out);
    free(out);
    cr_assert_eq(lines_of("metrics.jsonl"), 2);
    char model[2048];
    snprintf(model, sizeof model, "%s/run/model.h5", dir);
    struct stat before, after;
    cr_assert_eq(stat(model, &before), 0);

    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/run --set training.epochs=1", config_path,
                     dir), 1, "%s", out);
    assert_refused(out, "model.h5");
    free(out);
    cr_assert_eq(stat(model, &after), 0);
    cr_assert_eq(before.st_ino, after.st_ino, "the refused run replaced model.h5");
    cr_assert_eq(lines_of("metrics.jsonl"), 2, "the refused run touched metrics.jsonl");

    /* --overwrite: a one-epoch run stopped by --max-epochs leaves nothing of the old run */
    cr_assert_eq(test_run_dpkitf(&out, "train %s --output %s/run --overwrite --max-epochs 1", config_path,
                     dir), 0, "%s", out);
    cr_assert(strstr(out, "replacing the run there (--overwrite)") != NULL, "%s", out);
    free(out);
    cr_assert(!exists("model.h5") && !exists("summary.json"), "the old model is still there");
    cr_assert(exists("checkpoint.h5"));
    cr_assert_eq(lines_of("metrics.jsonl"), 1);
}

Test(cli_run_directory, a_started_run_is_refused_and_resume_continues_it)
{
    char *out;
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/run --max-epochs 1", config_path, dir), 0,
                 "%s", out);
    free(out);
    cr_assert(!exists("model.h5") && exists("checkpoint.h5"));
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/run", config_path, dir), 1, "%s", out);
    assert_refused(out, "checkpoint.h5");
    free(out);
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/run --resume --overwrite", config_path, dir),
                 2, "%s", out);
    cr_assert(strstr(out, "give one of them") != NULL, "%s", out);
    free(out);
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/run --resume", config_path, dir), 0, "%s",
                 out);
    free(out);
    cr_assert(exists("model.h5"));
    cr_assert_eq(lines_of("metrics.jsonl"), 2);
}

/* A directory with other files (a run's inputs, notes) but no run is not refused. */
Test(cli_run_directory, a_directory_without_a_run_is_used)
{
    char path[2048], *out;
    snprintf(path, sizeof path, "%s/run", dir);
    cr_assert_eq(mkdir(path, 0777), 0);
    snprintf(path, sizeof path, "%s/run/notes.txt", dir);
    cr_assert_eq(test_write_file(path, "x\n", 2), 0);
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/run", config_path, dir), 0, "%s", out);
    free(out);
    cr_assert(exists("model.h5") && exists("notes.txt"));
}

/* After each epoch: "epoch 1/2: ...; run: 00:00 elapsed, ~00:00 left"; nothing under -q. */
Test(cli_run_directory, each_epoch_line_ends_with_the_time_left)
{
    char *out;
    cr_assert_eq(test_run_dpkitf(&out, "train %s --output %s/run", config_path, dir), 0, "%s", out);
    const char *line = strstr(out, "epoch 1/2: ");
    cr_assert_not_null(line, "%s", out);
    const char *end = strchr(line, '\n');
    const char *eta = strstr(line, "; run: ");
    cr_assert(eta && eta < end, "%s", out);
    int m1, s1, m2, s2;
    cr_assert_eq(sscanf(eta, "; run: %d:%d elapsed, ~%d:%d left", &m1, &s1, &m2, &s2), 4, "%s",
                 out);
    cr_assert(strstr(out, "epoch 2/2: ") != NULL, "%s", out);
    cr_assert(strstr(out, "~00:00 left") != NULL, "the last epoch leaves nothing: %s", out);
    free(out);
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/quiet", config_path, dir), 0, "%s", out);
    cr_assert(strstr(out, "elapsed") == NULL, "%s", out);
    free(out);
}

Test(cli_run_directory, a_failed_run_leaves_no_empty_directory)
{
    char *out;
    /* fails after the directory is made: more examples per batch than the set holds */
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s/failed --set training.batch_size=100000",
                     config_path, dir), 1, "%s", out);
    cr_assert(strstr(out, "training.batch_size") != NULL, "%s", out);
    free(out);
    char path[1200];
    snprintf(path, sizeof path, "%s/failed", dir);
    struct stat st;
    cr_assert_neq(stat(path, &st), 0, "%s was left behind", path);
    /* a directory that existed before stays, with what it held */
    cr_assert_eq(mkdir(path, 0755), 0);
    cr_assert_eq(test_run_dpkitf(&out, "-q train %s --output %s --set training.batch_size=100000",
                     config_path, path), 1, "%s", out);
    free(out);
    cr_assert_eq(stat(path, &st), 0);
}
