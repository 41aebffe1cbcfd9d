/* Progress reporting for long loops: on a TTY a redrawn bar with rate and ETA, otherwise one
 * line every few seconds; silent when the log level is below info (-q). */
#ifndef DPKIT_COMMON_PROGRESS_H
#define DPKIT_COMMON_PROGRESS_H

#include <stddef.h>

typedef struct progress {
    char label[64];
    const char *unit;
    size_t total;
    size_t done;
    double start_seconds;
    double last_draw_seconds;
    int is_tty;
    int enabled;
} progress;

void progress_start(progress *p, const char *label, size_t total, const char *unit);
/* Sets the count of finished items; cheap to call often (draws at most a few times a second). */
void progress_update(progress *p, size_t done);
/* Final draw plus newline; prints the elapsed time. */
void progress_finish(progress *p);

/* For a job of few long items (a run's epochs, a curve's points, an audit's trainings), whose
 * callers log a line after each item instead of drawing: sets the count without drawing, and
 * describes it as "00:45 elapsed, ~09:30 left", the time left extrapolated from the mean
 * duration of the items finished since progress_start ("--:--" before the first). */
void progress_count(progress *p, size_t done);
void progress_describe(const progress *p, char *out, size_t size);

/* Monotonic wall-clock seconds. */
double progress_now(void);

#endif
