/* Error reporting for library code: functions return 0 on success or -1 on failure and fill a
 * caller-provided dpkit_error whose message names the file/field/value and what was expected. */
#ifndef DPKIT_COMMON_ERROR_H
#define DPKIT_COMMON_ERROR_H

#include "dpkit.h" /* dpkit_error */

#include <stdarg.h>

/* Formats the message into err (err may be NULL) and returns -1, so callers can write
 * `return error_set(err, "...")`. */
int error_set(dpkit_error *err, const char *format, ...) __attribute__((format(printf, 2, 3)));
int error_set_va(dpkit_error *err, const char *format, va_list args);

/* Prefixes an existing message with more context ("loading X: <old message>"); returns -1. */
int error_prefix(dpkit_error *err, const char *format, ...) __attribute__((format(printf, 2, 3)));

void error_clear(dpkit_error *err);

#endif
