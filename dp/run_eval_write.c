/* The per-example outputs of an evaluation as an HDF5 file (docs/formats.md, format
 * dpkit-eval-1), and the check that keeps it from replacing the model or the data it came
 * from. */
#include "dp/run_config.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define RUN_EVAL_FORMAT "dpkit-eval-1"

/* 1 when a and b are the same existing file however named (relative, through links): compared
 * by device and inode, since the names alone can differ. */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    if (strcmp(a, b) == 0)
        return 1;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

int run_eval_check_output(const char *output, const char *model_path, const char *dataset_name,
                          dpkit_error *err)
{
    if (!output || !output[0])
        return error_set(err, "per-example output: an empty path, expected a file name");
    if (same_file(output, model_path))
        return error_set(err, "per-example output %s is the model file %s: expected another "
                              "path (it would replace the model)", output, model_path);
    if (dataset_name && strncmp(dataset_name, "hdf5:", 5) == 0 &&
        same_file(output, dataset_name + 5))
        return error_set(err, "per-example output %s is the dataset file %s: expected another "
                              "path (it would replace the data)", output, dataset_name + 5);
    return 0;
}

int run_eval_write(const run_eval_result *r, const char *model_path, const char *output,
                   dpkit_error *err)
{
    if (!r->labels || !r->predictions || !r->losses || !r->logits)
        return error_set(err, "%s: the evaluation kept no per-example outputs", output);
    if (run_eval_check_output(output, model_path, r->dataset, err))
        return -1;
    /* The position in the split, written out so that a subset of the rows still says which
     * examples it holds. */
    long long *index = malloc((r->count ? r->count : 1) * sizeof *index);
    if (!index)
        return error_set(err, "%s: out of memory for %zu indices", output, r->count);
    for (size_t i = 0; i < r->count; i++)
        index[i] = (long long)i;
    h5io_file *f;
    if (h5io_create(output, &f, err)) {
        free(index);
        return -1;
    }
    size_t n = r->count, dims[2] = {r->count, r->class_count};
    int status = h5io_write_array(f, "/index", H5IO_INT64, 1, &n, index, err) ||
                 h5io_write_array(f, "/label", H5IO_INT32, 1, &n, r->labels, err) ||
                 h5io_write_array(f, "/prediction", H5IO_INT32, 1, &n, r->predictions, err) ||
                 h5io_write_array(f, "/loss", H5IO_FLOAT32, 1, &n, r->losses, err) ||
                 h5io_write_array(f, "/logits", H5IO_FLOAT32, 2, dims, r->logits, err) ||
                 h5io_write_attr_string(f, "/", "format", RUN_EVAL_FORMAT, err) ||
                 h5io_write_attr_string(f, "/", "model", model_path, err) ||
                 h5io_write_attr_string(f, "/", "dataset", r->dataset, err) ||
                 h5io_write_attr_string(f, "/", "split", r->split, err) ||
                 h5io_write_attr_double(f, "/", "accuracy", r->accuracy, err) ||
                 h5io_write_attr_double(f, "/", "mean_loss", r->mean_loss, err) ||
                 h5io_write_attr_string(f, "/", "dpkit_version", DPKIT_VERSION, err);
    free(index);
    return h5io_finish(f, status, err);
}
