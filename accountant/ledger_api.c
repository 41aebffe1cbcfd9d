/* Privacy ledgers in the public interface (dpkit.h): an opaque handle over accountant_ledger, so
 * callers can record their own events and account for them with either accountant. */
#include "accountant/accountant.h"

#include <stdlib.h>

struct dpkit_ledger {
    accountant_ledger ledger;
};

DPKIT_API dpkit_ledger *dpkit_ledger_create(void)
{
    dpkit_ledger *l = malloc(sizeof *l);
    if (l)
        accountant_ledger_init(&l->ledger);
    return l;
}

DPKIT_API void dpkit_ledger_free(dpkit_ledger *l)
{
    if (!l)
        return;
    accountant_ledger_free(&l->ledger);
    free(l);
}

DPKIT_API int dpkit_ledger_record(dpkit_ledger *l, double sample_rate, double noise_multiplier,
                                  long long count, const char *label, dpkit_error *err)
{
    if (!l)
        return error_set(err, "ledger: NULL handle");
    return accountant_ledger_record(&l->ledger, sample_rate, noise_multiplier, count,
                                    label ? label : "dp-sgd", err);
}

DPKIT_API size_t dpkit_ledger_event_count(const dpkit_ledger *l)
{
    return l ? l->ledger.count : 0;
}

DPKIT_API int dpkit_ledger_epsilon(const dpkit_ledger *l, double delta, const char *accountant,
                                   double *epsilon, dpkit_error *err)
{
    if (!l)
        return error_set(err, "ledger: NULL handle");
    accountant_options options;
    accountant_options_default(&options);
    if (accountant && accountant_kind_parse(accountant, &options.kind, err))
        return -1;
    if (l->ledger.count == 0) { /* nothing recorded: nothing spent */
        *epsilon = 0;
        return 0;
    }
    return accountant_ledger_epsilon(&l->ledger, delta, &options, epsilon, NULL, err);
}
