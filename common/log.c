/* Levelled logging to stderr (see log.h). */
#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>

static log_level current_level = DPKIT_LOG_INFO;

void log_set_level(log_level level) { current_level = level; }
log_level log_get_level(void) { return current_level; }

void log_message(log_level level, const char *format, ...)
{
    if (level > current_level)
        return;
    static const char *const prefixes[] = {"error: ", "warning: ", "", "debug: "};
    va_list args;
    va_start(args, format);
    fputs(prefixes[level], stderr);
    vfprintf(stderr, format, args);
    fputc('\n', stderr);
    va_end(args);
}
