/* Logging to stderr with levels; the CLI maps -q / -v to the level. */
#ifndef DPKIT_COMMON_LOG_H
#define DPKIT_COMMON_LOG_H

typedef enum { DPKIT_LOG_ERROR = 0, DPKIT_LOG_WARN = 1, DPKIT_LOG_INFO = 2, DPKIT_LOG_DEBUG = 3 } log_level;

void log_set_level(log_level level);
log_level log_get_level(void);
/* -q: only errors; default: info; -v: debug. */
void log_message(log_level level, const char *format, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_message(DPKIT_LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_message(DPKIT_LOG_WARN, __VA_ARGS__)
#define log_info(...) log_message(DPKIT_LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_message(DPKIT_LOG_DEBUG, __VA_ARGS__)

#endif
