/* The privacy ledger: the run-length encoded list of privacy events of a run, and its HDF5 form
 * (layout in docs/formats/accountant.md). */
#include "accountant/accountant.h"
#include "accountant/accountant_internal.h"
#include "common/memory.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LEDGER_LABEL_SIZE ((int)sizeof(((accountant_event *)0)->label))
#define LEDGER_FORMAT "dpkit privacy ledger"
#define LEDGER_VERSION 1
/* Events are run-length encoded (one per change of sampling rate, noise or label), so a real
 * ledger has a handful; more than this means a corrupt file. */
#define LEDGER_MAX_EVENTS (1 << 20)

void accountant_ledger_init(accountant_ledger *ledger)
{
    ledger->events = NULL;
    ledger->count = 0;
    ledger->capacity = 0;
    ledger->tuning = (accountant_tuning){0, 0.0, 0.0};
}

void accountant_ledger_free(accountant_ledger *ledger)
{
    if (!ledger)
        return;
    free(ledger->events);
    accountant_ledger_init(ledger);
}

/* Labels are short printable ASCII, so they survive JSON and HDF5 unchanged. */
static int check_label(const char *label, dpkit_error *err)
{
    size_t n = strlen(label);
    if (n >= (size_t)LEDGER_LABEL_SIZE)
        return error_set(err, "privacy event label '%s' is longer than %d characters", label,
                         LEDGER_LABEL_SIZE - 1);
    for (size_t i = 0; i < n; i++)
        if (label[i] < 0x20 || label[i] > 0x7e)
            return error_set(err, "privacy event label has a non-printable character at %zu "
                                  "(labels are printable ASCII)", i);
    return 0;
}

int accountant_event_check_fields(double sampling_rate, double noise_multiplier, long long count,
                                  dpkit_error *err)
{
    if (!(sampling_rate >= 0.0 && sampling_rate <= 1.0))
        return error_set(err, "sampling_rate = %g, expected a sampling rate in [0, 1]",
                         sampling_rate);
    if (!(noise_multiplier >= 0.0) || isinf(noise_multiplier))
        return error_set(err, "noise_multiplier = %g, expected a noise multiplier that is finite "
                              "and >= 0", noise_multiplier);
    if (count < 0)
        return error_set(err, "count = %lld, expected a number of releases >= 0", count);
    return 0;
}

int accountant_ledger_record(accountant_ledger *ledger, double sampling_rate,
                             double noise_multiplier, long long count, const char *label,
                             dpkit_error *err)
{
    return accountant_ledger_record_sampled(ledger, ACCOUNTANT_SAMPLER_POISSON, sampling_rate,
                                            noise_multiplier, count, label, err);
}

int accountant_ledger_record_sampled(accountant_ledger *ledger, accountant_sampler sampler,
                                     double sampling_rate, double noise_multiplier,
                                     long long count, const char *label, dpkit_error *err)
{
    if (!label)
        label = "";
    accountant_event event = {sampling_rate, noise_multiplier, count, {0}, sampler};
    if (accountant_check_events(&event, 1, err) != 0 || check_label(label, err) != 0)
        return -1;
    if (count == 0)
        return 0;
    strcpy(event.label, label);
    if (ledger->count > 0) {
        accountant_event *last = &ledger->events[ledger->count - 1];
        if (last->sampling_rate == sampling_rate && last->noise_multiplier == noise_multiplier &&
            last->sampler == sampler && strcmp(last->label, label) == 0) {
            if (last->count > INT64_MAX - count)
                return error_set(err, "privacy ledger: step count overflows");
            last->count += count;
            return 0;
        }
    }
    if (memory_grow((void **)&ledger->events, &ledger->capacity, ledger->count,
                    sizeof *ledger->events, 8))
        return error_set(err, "privacy ledger: out of memory");
    ledger->events[ledger->count++] = event;
    return 0;
}

int accountant_ledger_copy(const accountant_ledger *from, accountant_ledger *to, dpkit_error *err)
{
    accountant_ledger_init(to);
    to->tuning = from->tuning;
    if (from->count == 0)
        return 0;
    to->events = malloc(from->count * sizeof *to->events);
    if (!to->events)
        return error_set(err, "privacy ledger: out of memory");
    memcpy(to->events, from->events, from->count * sizeof *to->events);
    to->count = to->capacity = from->count;
    return 0;
}

int accountant_ledger_epsilon(const accountant_ledger *ledger, double delta,
                              const accountant_options *options, double *epsilon, double *order,
                              dpkit_error *err)
{
    if (ledger->tuning.enabled)
        return accountant_tuning_epsilon(ledger->events, ledger->count, ledger->tuning.eta,
                                         ledger->tuning.gamma, delta, options, epsilon, order,
                                         err);
    return accountant_epsilon(ledger->events, ledger->count, delta, options, epsilon, order, err);
}

int accountant_ledger_set_tuning(accountant_ledger *ledger, double eta, double gamma,
                                 dpkit_error *err)
{
    if (ledger->tuning.enabled)
        return error_set(err, "the privacy ledger already records a tuning (eta = %g, gamma = "
                              "%g); a tuning of tunings is not supported", ledger->tuning.eta,
                         ledger->tuning.gamma);
    if (accountant_tuning_check(eta, gamma, err) != 0)
        return -1;
    ledger->tuning = (accountant_tuning){1, eta, gamma};
    return 0;
}

static void join_path(char *out, size_t size, const char *group, const char *name)
{
    snprintf(out, size, "%s/%s", group, name);
}

/* The label column: a fixed-length (32-byte, NUL-padded) ASCII string dataset. */
static int write_labels(h5io_file *file, const char *path, const accountant_ledger *ledger,
                        dpkit_error *err)
{
    char *labels = calloc(ledger->count ? ledger->count : 1, LEDGER_LABEL_SIZE);
    if (!labels)
        return error_set(err, "privacy ledger: out of memory");
    for (size_t i = 0; i < ledger->count; i++)
        memcpy(labels + i * LEDGER_LABEL_SIZE, ledger->events[i].label, LEDGER_LABEL_SIZE);
    hsize_t dims[1] = {ledger->count};
    hid_t type = H5Tcopy(H5T_C_S1);
    H5Tset_size(type, LEDGER_LABEL_SIZE);
    H5Tset_strpad(type, H5T_STR_NULLPAD);
    hid_t space = H5Screate_simple(1, dims, NULL);
    hid_t set = H5Dcreate2(file->id, path, type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int status = 0;
    if (set < 0 || H5Dwrite(set, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels) < 0)
        status = error_set(err, "%s: cannot write dataset %s", file->path, path);
    H5IO_CLOSE_ALL(set, space, type);
    free(labels);
    return status;
}

static int read_labels(h5io_file *file, const char *path, size_t count, char *labels,
                       dpkit_error *err)
{
    int rank;
    size_t dims[H5IO_MAX_RANK];
    if (h5io_array_shape(file, path, &rank, dims, err))
        return -1;
    if (rank != 1)
        return error_set(err, "%s: %s has %d dimensions, expected 1", file->path, path, rank);
    if (dims[0] != count)
        return error_set(err, "%s: %s has %zu labels, expected %zu (one per event)", file->path,
                         path, dims[0], count);
    hid_t set = h5io_open_dataset(file, path, err);
    if (set < 0)
        return -1;
    hid_t stored = H5Dget_type(set);
    int status = 0;
    if (H5Tget_class(stored) != H5T_STRING || H5Tis_variable_str(stored) > 0)
        status = error_set(err, "%s: %s must hold fixed-length strings", file->path, path);
    else if (count > 0) {
        hid_t type = H5Tcopy(H5T_C_S1);
        H5Tset_size(type, LEDGER_LABEL_SIZE);
        H5Tset_strpad(type, H5T_STR_NULLTERM);
        if (H5Dread(set, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, labels) < 0)
            status = error_set(err, "%s: cannot read %s", file->path, path);
        H5Tclose(type);
    }
    H5IO_CLOSE_ALL(stored, set);
    return status;
}

int accountant_ledger_save_h5(const accountant_ledger *ledger, h5io_file *file, const char *group,
                              dpkit_error *err)
{
    size_t n = ledger->count;
    double *rates = malloc((n ? n : 1) * sizeof *rates);
    double *sigmas = malloc((n ? n : 1) * sizeof *sigmas);
    int64_t *counts = malloc((n ? n : 1) * sizeof *counts);
    int64_t *samplers = malloc((n ? n : 1) * sizeof *samplers);
    int status = 0;
    if (!rates || !sigmas || !counts || !samplers)
        status = error_set(err, "privacy ledger: out of memory");
    for (size_t i = 0; status == 0 && i < n; i++) {
        rates[i] = ledger->events[i].sampling_rate;
        sigmas[i] = ledger->events[i].noise_multiplier;
        counts[i] = ledger->events[i].count;
        samplers[i] = (int64_t)ledger->events[i].sampler;
    }
    char path[1024];
    size_t dims[1] = {n};
    if (status == 0 && h5io_exists(file, group)) {
        /* Replace an older ledger at the same place (checkpoints rewrite it). */
        if (H5Ldelete(file->id, group, H5P_DEFAULT) < 0)
            status = error_set(err, "%s: cannot replace group %s", file->path, group);
    }
    if (status == 0)
        status = h5io_ensure_group(file, group, err);
    const struct {
        const char *name;
        h5io_type type;
        const void *data;
    } columns[] = {{"sampling_rate", H5IO_FLOAT64, rates},
                   {"noise_multiplier", H5IO_FLOAT64, sigmas},
                   {"count", H5IO_INT64, counts},
                   {"sampler", H5IO_INT64, samplers}};
    for (size_t c = 0; status == 0 && c < sizeof columns / sizeof *columns; c++) {
        join_path(path, sizeof path, group, columns[c].name);
        status = h5io_write_array(file, path, columns[c].type, 1, dims, columns[c].data, err);
    }
    if (status == 0) {
        join_path(path, sizeof path, group, "label");
        status = write_labels(file, path, ledger, err);
    }
    if (status == 0)
        status = h5io_write_attr_string(file, group, "format", LEDGER_FORMAT, err);
    if (status == 0)
        status = h5io_write_attr_int64(file, group, "version", LEDGER_VERSION, err);
    if (status == 0 && ledger->tuning.enabled)
        status = h5io_write_attr_double(file, group, "tuning_eta", ledger->tuning.eta, err);
    if (status == 0 && ledger->tuning.enabled)
        status = h5io_write_attr_double(file, group, "tuning_gamma", ledger->tuning.gamma, err);
    free(rates);
    free(sigmas);
    free(counts);
    free(samplers);
    return status;
}

/* Reads one 1-D column of the ledger group; checks its length against *count (SIZE_MAX: sets it). */
static int read_column(h5io_file *file, const char *group, const char *name, h5io_type type,
                       size_t *count, void **data, dpkit_error *err)
{
    char path[1024];
    join_path(path, sizeof path, group, name);
    int rank;
    size_t dims[H5IO_MAX_RANK];
    /* The shape first: a corrupt file can declare any size, and reading allocates it. */
    if (h5io_array_shape(file, path, &rank, dims, err) != 0)
        return -1;
    if (rank != 1)
        return error_set(err, "%s: %s has rank %d, expected 1", file->path, path, rank);
    if (dims[0] > LEDGER_MAX_EVENTS)
        return error_set(err, "%s: %s has %zu entries, expected at most %d", file->path, path,
                         dims[0], LEDGER_MAX_EVENTS);
    if (*count != SIZE_MAX && dims[0] != *count)
        return error_set(err, "%s: %s has %zu entries, expected %zu (one per event)", file->path,
                         path, dims[0], *count);
    if (h5io_read_array(file, path, type, &rank, dims, data, err) != 0)
        return -1;
    if (rank != 1 || (*count != SIZE_MAX && dims[0] != *count))
        return error_set(err, "%s: %s changed shape while being read", file->path, path);
    *count = dims[0];
    return 0;
}

int accountant_ledger_load_h5(accountant_ledger *ledger, h5io_file *file, const char *group,
                              dpkit_error *err)
{
    accountant_ledger_init(ledger);
    if (!h5io_exists(file, group))
        return error_set(err, "%s: privacy ledger group %s is missing", file->path, group);
    size_t n = SIZE_MAX;
    double *rates = NULL, *sigmas = NULL;
    int64_t *counts = NULL, *samplers = NULL;
    char *labels = NULL;
    int status = read_column(file, group, "sampling_rate", H5IO_FLOAT64, &n, (void **)&rates, err);
    if (status == 0)
        status = read_column(file, group, "noise_multiplier", H5IO_FLOAT64, &n, (void **)&sigmas,
                             err);
    if (status == 0)
        status = read_column(file, group, "count", H5IO_INT64, &n, (void **)&counts, err);
    /* Ledgers written before random allocation have no sampler column: all Poisson. */
    char sampler_path[1024];
    join_path(sampler_path, sizeof sampler_path, group, "sampler");
    if (status == 0 && h5io_exists(file, sampler_path))
        status = read_column(file, group, "sampler", H5IO_INT64, &n, (void **)&samplers, err);
    if (status == 0 && !(labels = calloc(n ? n : 1, LEDGER_LABEL_SIZE)))
        status = error_set(err, "privacy ledger: out of memory");
    char path[1024];
    join_path(path, sizeof path, group, "label");
    if (status == 0)
        status = read_labels(file, path, n, labels, err);
    for (size_t i = 0; status == 0 && i < n; i++) {
        char label[LEDGER_LABEL_SIZE];
        memcpy(label, labels + i * LEDGER_LABEL_SIZE, LEDGER_LABEL_SIZE);
        label[LEDGER_LABEL_SIZE - 1] = '\0';
        /* Checked field by field first, so that the message names the dataset: an impossible
         * value is refused, never accounted. */
        status = accountant_event_check_fields(rates[i], sigmas[i], counts[i], err);
        int64_t sampler = samplers ? samplers[i] : ACCOUNTANT_SAMPLER_POISSON;
        if (status == 0 && sampler != ACCOUNTANT_SAMPLER_POISSON &&
            sampler != ACCOUNTANT_SAMPLER_RANDOM_ALLOCATION)
            status = error_set(err, "sampler = %lld, expected 0 (poisson) or 1 "
                                    "(random-allocation)", (long long)sampler);
        if (status == 0)
            status = accountant_ledger_record_sampled(ledger, (accountant_sampler)sampler,
                                                      rates[i], sigmas[i], counts[i], label, err);
        if (status != 0)
            error_prefix(err, "%s: privacy ledger %s, event %zu", file->path, group, i);
    }
    /* A tuning record: both attributes or neither (one alone is a corrupt ledger). */
    int has_eta = h5io_has_attr(file, group, "tuning_eta") > 0;
    int has_gamma = h5io_has_attr(file, group, "tuning_gamma") > 0;
    double eta = 0.0, gamma = 0.0;
    if (status == 0 && has_eta != has_gamma)
        status = error_set(err, "%s: privacy ledger %s has tuning_%s but not tuning_%s",
                           file->path, group, has_eta ? "eta" : "gamma",
                           has_eta ? "gamma" : "eta");
    if (status == 0 && has_eta &&
        (h5io_read_attr_double(file, group, "tuning_eta", &eta, err) != 0 ||
         h5io_read_attr_double(file, group, "tuning_gamma", &gamma, err) != 0 ||
         accountant_ledger_set_tuning(ledger, eta, gamma, err) != 0))
        status = error_prefix(err, "%s: privacy ledger %s", file->path, group);
    free(rates);
    free(sigmas);
    free(counts);
    free(samplers);
    free(labels);
    if (status != 0)
        accountant_ledger_free(ledger);
    return status;
}
