/* Progress bar / periodic progress lines on stderr (see progress.h). */
#include "common/progress.h"

#include "common/log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double progress_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void progress_start(progress *p, const char *label, size_t total, const char *unit)
{
    memset(p, 0, sizeof *p);
    snprintf(p->label, sizeof p->label, "%s", label);
    p->unit = unit ? unit : "it";
    p->total = total;
    p->start_seconds = progress_now();
    p->last_draw_seconds = p->start_seconds;
    p->is_tty = isatty(fileno(stderr));
    p->enabled = log_get_level() >= DPKIT_LOG_INFO;
}

static void format_duration(double seconds, char *out, size_t size)
{
    if (seconds < 0 || seconds > 1e7) {
        snprintf(out, size, "--:--");
        return;
    }
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(out, size, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
    else
        snprintf(out, size, "%02ld:%02ld", s / 60, s % 60);
}

static void draw(progress *p, double now, int final)
{
    double elapsed = now - p->start_seconds;
    double rate = elapsed > 0 ? (double)p->done / elapsed : 0.0;
    double fraction = p->total ? (double)p->done / (double)p->total : 0.0;
    char eta[32], spent[32];
    format_duration(rate > 0 ? (double)(p->total - p->done) / rate : -1, eta, sizeof eta);
    format_duration(elapsed, spent, sizeof spent);
    if (p->is_tty) {
        enum { WIDTH = 30 };
        char bar[WIDTH + 1];
        int filled = (int)(fraction * WIDTH);
        for (int i = 0; i < WIDTH; i++)
            bar[i] = i < filled ? '#' : '.';
        bar[WIDTH] = '\0';
        fprintf(stderr, "\r%s [%s] %zu/%zu %5.1f%% %.1f %s/s elapsed %s eta %s\033[K%s", p->label, bar,
                p->done, p->total, 100.0 * fraction, rate, p->unit, spent, eta, final ? "\n" : "");
    } else {
        fprintf(stderr, "%s: %zu/%zu (%.1f%%) %.1f %s/s elapsed %s eta %s\n", p->label, p->done,
                p->total, 100.0 * fraction, rate, p->unit, spent, eta);
    }
    fflush(stderr);
}

void progress_update(progress *p, size_t done)
{
    p->done = done;
    if (!p->enabled)
        return;
    double now = progress_now();
    double interval = p->is_tty ? 0.2 : 5.0;
    if (now - p->last_draw_seconds >= interval) {
        p->last_draw_seconds = now;
        draw(p, now, 0);
    }
}

void progress_finish(progress *p)
{
    if (!p->enabled)
        return;
    draw(p, progress_now(), 1);
}

void progress_count(progress *p, size_t done)
{
    p->done = done;
}

void progress_describe(const progress *p, char *out, size_t size)
{
    double elapsed = progress_now() - p->start_seconds;
    size_t left = p->total > p->done ? p->total - p->done : 0;
    char spent[32], eta[32];
    format_duration(elapsed, spent, sizeof spent);
    format_duration(p->done ? elapsed / (double)p->done * (double)left : -1, eta, sizeof eta);
    snprintf(out, size, "%s elapsed, ~%s left", spent, eta);
}
