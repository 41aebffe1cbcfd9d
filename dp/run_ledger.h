/* The privacy ledger of a saved run, read back to be accounted again (`dpkit epsilon --ledger`):
 * /ledger of a model.h5, /state/ledger of a checkpoint.h5, or a JSON ledger file, with the
 * delta and privacy setting of the config stored beside it. */
#ifndef DPKIT_DP_RUN_LEDGER_H
#define DPKIT_DP_RUN_LEDGER_H

#include "accountant/accountant.h"

typedef struct run_ledger {
    accountant_ledger ledger;
    char source[16];         /* "model", "checkpoint" or "json" */
    char group[16];          /* HDF5 group it was read from; "" for JSON */
    int has_config;          /* an HDF5 file with its config (root attribute `config`) */
    double delta;            /* privacy.delta of that config; NAN without one */
    int private_mode;        /* privacy.enabled of that config; 1 without one */
    char accountant[8];      /* privacy.accountant of that config ("rdp", "pld"); "" without */
    double recorded_epsilon; /* epsilon the run wrote beside the ledger; NAN when absent */
} run_ledger;

/* Reads PATH: a file named *.json is a JSON ledger (docs/formats/accountant.md), any other an
 * HDF5 model.h5 (group /ledger) or checkpoint.h5 (group /state/ledger). Errors name the file
 * and what it lacks. Free with run_ledger_free. */
int run_ledger_load(const char *path, run_ledger *out, dpkit_error *err);
void run_ledger_free(run_ledger *rl);

/* epsilon of the ledger at delta with the given accountant options (order as
 * accountant_epsilon); infinite for a run its config trained without privacy. */
int run_ledger_epsilon(const run_ledger *rl, double delta, const accountant_options *options,
                       double *epsilon, double *order, dpkit_error *err);

#endif
