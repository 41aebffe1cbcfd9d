/* A JSON document (report.json, summary.json...) built in memory as one top-level object and
 * then written to its file atomically (see json.h). */
#include "common/json.h"

#include "common/textfile.h"

#include <string.h>

int json_document_begin(json_writer *w, const char *what, dpkit_error *err)
{
    if (json_writer_init_string(w, 2))
        return error_set(err, "%s: out of memory", what);
    json_begin_object(w);
    return 0;
}

int json_document_write(json_writer *w, const char *path, dpkit_error *err)
{
    json_end_object(w);
    int status = json_writer_finish(w, err);
    const char *text = json_writer_string(w);
    if (!status)
        status = textfile_write_atomic(path, text, strlen(text), err);
    json_writer_free(w);
    return status ? -1 : 0;
}
