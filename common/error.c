/* Error struct helpers (see error.h). */
#include "common/error.h"

#include <stdio.h>
#include <string.h>

int error_set_va(dpkit_error *err, const char *format, va_list args)
{
    if (err)
        vsnprintf(err->message, sizeof err->message, format, args);
    return -1;
}

int error_set(dpkit_error *err, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    error_set_va(err, format, args);
    va_end(args);
    return -1;
}

int error_prefix(dpkit_error *err, const char *format, ...)
{
    if (!err)
        return -1;
    char prefix[DPKIT_ERROR_MESSAGE_SIZE];
    va_list args;
    va_start(args, format);
    vsnprintf(prefix, sizeof prefix, format, args);
    va_end(args);
    size_t prefix_length = strlen(prefix);
    size_t old_length = strlen(err->message);
    if (prefix_length + 2 + old_length >= sizeof err->message)
        old_length = sizeof err->message - 1 - (prefix_length + 2 < sizeof err->message ? prefix_length + 2 : 0);
    if (prefix_length + 2 >= sizeof err->message)
        return -1;
    memmove(err->message + prefix_length + 2, err->message, old_length);
    err->message[prefix_length + 2 + old_length] = '\0';
    memcpy(err->message, prefix, prefix_length);
    memcpy(err->message + prefix_length, ": ", 2);
    return -1;
}

void error_clear(dpkit_error *err)
{
    if (err)
        err->message[0] = '\0';
}
