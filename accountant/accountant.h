/* Privacy accounting for DP-SGD: RDP (Renyi DP) and PLD (privacy loss distribution)
 * accountants for compositions of Poisson-subsampled Gaussian mechanisms, conversion to
 * (epsilon, delta), noise calibration, and the privacy ledger every privacy-consuming step of a
 * run reports to. Maths: docs/maths.md sections 2 and 3. */
#ifndef DPKIT_ACCOUNTANT_ACCOUNTANT_H
#define DPKIT_ACCOUNTANT_ACCOUNTANT_H

#include "common/error.h"
#include "common/h5io.h"

#include <stddef.h>

/* How the examples of a step were chosen (docs/maths.md 2.12). Poisson: each example
 * independently with probability q. Random allocation ("balls in bins"): in each epoch of t
 * steps every example goes to exactly one step, drawn uniformly; its events have q = 1/t. */
typedef enum {
    ACCOUNTANT_SAMPLER_POISSON = 0,
    ACCOUNTANT_SAMPLER_RANDOM_ALLOCATION = 1
} accountant_sampler;

/* `count` runs of the Gaussian mechanism with noise multiplier `noise_multiplier` on a sample of
 * rate `sampling_rate` (1 = the whole dataset, e.g. private normalisation stats) drawn by
 * `sampler`. A random-allocation event's steps are consecutive whole epochs of t = 1/q steps,
 * the last of which may be cut short; only the ledger's last random-allocation event may end
 * inside an epoch. */
typedef struct accountant_event {
    double sampling_rate;
    double noise_multiplier;
    long long count;
    char label[32]; /* what consumed privacy: "dp-sgd", "private-bn", ... */
    accountant_sampler sampler; /* zero (Poisson) unless set */
} accountant_event;

/* The list of events of one run, run-length encoded: recording an event equal (same q, sigma,
 * label) to the last one adds to its count. */
/* Hyperparameter tuning with a random number of runs (Papernot & Steinke 2022, docs/maths.md
 * 2.11): the events describe one run and the released result is the best of K runs, K drawn
 * from the truncated negative binomial distribution D_{eta,gamma} (eta > -1, gamma in (0, 1);
 * eta = 1 is the geometric, eta = 0 the logarithmic distribution). */
typedef struct accountant_tuning {
    int enabled;
    double eta, gamma;
} accountant_tuning;

typedef struct accountant_ledger {
    accountant_event *events;
    size_t count;
    size_t capacity;
    accountant_tuning tuning; /* disabled unless accountant_ledger_set_tuning */
} accountant_ledger;

typedef enum { ACCOUNTANT_RDP, ACCOUNTANT_PLD } accountant_kind;
typedef enum { ACCOUNTANT_CONVERSION_IMPROVED, ACCOUNTANT_CONVERSION_CLASSIC } accountant_conversion;

/* Largest number of loss grid points of one PLD array or FFT (2^23 doubles, 64 MiB; an
 * evaluation holds several such arrays at once: an event's tabulation of both directions, the
 * running composition of each direction (and, for the interval, of each estimate), the FFT). */
#define ACCOUNTANT_PLD_MAX_POINTS ((size_t)1 << 23)

typedef struct accountant_options {
    accountant_kind kind;              /* default RDP; PLD refuses random-allocation events */
    accountant_sampler sampler;        /* of the steps calibration and max_steps plan; Poisson */
    accountant_conversion conversion;  /* RDP only; default IMPROVED */
    double pld_discretization;         /* PLD only; default 1e-4 */
} accountant_options;

void accountant_options_default(accountant_options *options);
/* Parses "rdp"/"pld" and "improved"/"classic"; -1 with a message naming the value otherwise. */
int accountant_kind_parse(const char *text, accountant_kind *kind, dpkit_error *err);
int accountant_conversion_parse(const char *text, accountant_conversion *conversion, dpkit_error *err);
/* "poisson" / "random-allocation"; -1 with a message naming the value otherwise. */
int accountant_sampler_parse(const char *text, accountant_sampler *sampler, dpkit_error *err);
const char *accountant_sampler_name(accountant_sampler sampler);

/* epsilon of the composition of `events` at `delta`. For RDP, *order receives the order that
 * attains it (NaN for PLD or when epsilon is infinite; order may be NULL). A noise multiplier
 * of 0, or one whose square is below the normal doubles (< 1.5e-154), gives +infinity; so does
 * any event whose RDP series breaks down numerically (the accountant fails closed). The PLD
 * accountant refuses compositions that need more than ACCOUNTANT_PLD_MAX_POINTS grid points. */
int accountant_epsilon(const accountant_event *events, size_t event_count, double delta,
                       const accountant_options *options, double *epsilon, double *order,
                       dpkit_error *err);

/* PLD only: the optimistic and pessimistic connect-the-dots estimates of epsilon at delta
 * (docs/maths.md 3.3), lower <= true epsilon <= upper; *upper is what accountant_epsilon
 * returns, the value reported everywhere. -1 with a message for the RDP accountant. */
int accountant_epsilon_interval(const accountant_event *events, size_t event_count, double delta,
                                const accountant_options *options, double *lower, double *upper,
                                dpkit_error *err);

/* delta at a given epsilon (PLD: exact read-off; RDP: the conversion solved for delta). */
int accountant_delta(const accountant_event *events, size_t event_count, double epsilon,
                     const accountant_options *options, double *delta, dpkit_error *err);

/* Smallest noise multiplier (to the accuracy of the root finder, always on the safe side) such
 * that `steps` steps at rate q, after the `prior` events, spend at most target_epsilon. */
int accountant_calibrate_noise(double target_epsilon, double delta, double sampling_rate,
                               long long steps, const accountant_event *prior, size_t prior_count,
                               const accountant_options *options, double *noise_multiplier,
                               dpkit_error *err);

/* Largest number of steps at (q, sigma), after the prior events, that stays within the budget. */
int accountant_max_steps(double target_epsilon, double delta, double sampling_rate,
                         double noise_multiplier, const accountant_event *prior,
                         size_t prior_count, const accountant_options *options,
                         long long *steps, dpkit_error *err);

/* Random allocation (random_allocation.c, docs/maths.md 2.12): an upper bound on the RDP at
 * `order` (> 1) of one epoch of t steps (each example in exactly one, uniformly drawn) of the
 * Gaussian mechanism with noise multiplier sigma, under add-or-remove adjacency. */
double accountant_rdp_random_allocation_epoch(long long steps_per_epoch, double noise_multiplier,
                                              double order);

/* RDP of one step of the subsampled Gaussian at one order (> 1, integer or fractional). */
double accountant_rdp_subsampled_gaussian(double sampling_rate, double noise_multiplier,
                                          double order);

/* The default order grid (Opacus's): 1.1, 1.2, ..., 10.9, then 12, 13, ..., 63 (no 11).
 * Returns the number of orders; *orders points to static storage. accountant_epsilon,
 * accountant_delta and the calibration use it, and where the best order is its top, 63, search
 * integer and then fractional orders above it, up to ACCOUNTANT_RDP_MAX_ORDER. */
size_t accountant_rdp_default_orders(const double **orders);
#define ACCOUNTANT_RDP_MAX_ORDER 1024.0
/* 1 if `order` (as accountant_epsilon reports it) is the smallest or largest order tried: the
 * bound might fall further past it, so it may be loose (the PLD accountant is tighter). */
int accountant_rdp_order_at_edge(double order);
/* RDP curve of a composition: rdp[k] = sum over events of count * RDP(q, sigma, orders[k]).
 * An order whose series does not converge gets +infinity (it then never attains epsilon). */
int accountant_rdp_curve(const accountant_event *events, size_t event_count, const double *orders,
                         size_t order_count, double *rdp, dpkit_error *err);
/* (epsilon, delta) conversions of an RDP curve (docs/maths.md 2.7). *order (may be NULL) gets the
 * order that attains epsilon. */
int accountant_rdp_to_epsilon(const double *orders, const double *rdp, size_t order_count,
                              double delta, accountant_conversion conversion, double *epsilon,
                              double *order, dpkit_error *err);
int accountant_rdp_to_delta(const double *orders, const double *rdp, size_t order_count,
                            double epsilon, accountant_conversion conversion, double *delta,
                            dpkit_error *err);

/* Tuning (tuning.c). Checks eta and gamma (message naming the bad one). */
int accountant_tuning_check(double eta, double gamma, dpkit_error *err);
/* E[K] of D_{eta,gamma}. */
double accountant_tuning_expected_runs(double eta, double gamma);
/* K ~ D_{eta,gamma} from one uniform draw in [0, 1) by the inverse CDF (eta and gamma checked by
 * the caller); at most ACCOUNTANT_TUNING_MAX_RUNS (where the tail's mass is below rounding). */
#define ACCOUNTANT_TUNING_MAX_RUNS 1000000000LL
long long accountant_tuning_draw_runs(double eta, double gamma, double uniform);
/* tuned[k]: the RDP at orders[k] of the best of K ~ D_{eta,gamma} runs, each with the RDP curve
 * `rdp` (Papernot & Steinke 2022, Theorem 2; docs/maths.md 2.11). */
int accountant_tuning_rdp(const double *orders, const double *rdp, size_t order_count,
                          double eta, double gamma, double *tuned, dpkit_error *err);
/* epsilon at delta of the best of K ~ D_{eta,gamma} runs of the composition `events` (RDP over
 * the default orders; the PLD accountant is refused with a message). */
int accountant_tuning_epsilon(const accountant_event *events, size_t event_count, double eta,
                              double gamma, double delta, const accountant_options *options,
                              double *epsilon, double *order, dpkit_error *err);

/* Ledger. */
void accountant_ledger_init(accountant_ledger *ledger);
void accountant_ledger_free(accountant_ledger *ledger);
int accountant_ledger_record(accountant_ledger *ledger, double sampling_rate,
                             double noise_multiplier, long long count, const char *label,
                             dpkit_error *err);
/* The same for steps drawn by `sampler` (accountant_ledger_record records Poisson steps). */
int accountant_ledger_record_sampled(accountant_ledger *ledger, accountant_sampler sampler,
                                     double sampling_rate, double noise_multiplier,
                                     long long count, const char *label, dpkit_error *err);
int accountant_ledger_copy(const accountant_ledger *from, accountant_ledger *to, dpkit_error *err);
/* Records that the ledger's events describe one run of a tuning that releases the best of
 * K ~ D_{eta,gamma} runs; its epsilon is then that of the tuned result (RDP accountant only). */
int accountant_ledger_set_tuning(accountant_ledger *ledger, double eta, double gamma,
                                 dpkit_error *err);
int accountant_ledger_epsilon(const accountant_ledger *ledger, double delta,
                              const accountant_options *options, double *epsilon, double *order,
                              dpkit_error *err);
/* HDF5 layout: group with datasets sampling_rate (float64), noise_multiplier (float64),
 * count (int64), sampler (int64; absent: all Poisson), label (attribute per event as a string
 * list) -- see docs/formats/accountant.md. */
int accountant_ledger_save_h5(const accountant_ledger *ledger, h5io_file *file, const char *group,
                              dpkit_error *err);
/* The load functions overwrite *ledger without freeing it (pass a fresh or freed ledger); on
 * failure it is left empty. */
int accountant_ledger_load_h5(accountant_ledger *ledger, h5io_file *file, const char *group,
                              dpkit_error *err);
/* JSON: {"events": [{"sampling_rate":..,"noise_multiplier":..,"count":..,"label":".."}]} (and
 * "sampler": "random-allocation" on such events),
 * plus "tuning": {"distribution": "truncated-negative-binomial", "eta":..,"gamma":..} when
 * recorded (HDF5: attributes tuning_eta and tuning_gamma of the group); written atomically. */
int accountant_ledger_save_json(const accountant_ledger *ledger, const char *path, dpkit_error *err);
int accountant_ledger_load_json(accountant_ledger *ledger, const char *path, dpkit_error *err);

#endif
