/* `dpkit scatter`: the scattering transform of an HDF5 image array, written in Kymatio's layout;
 * processes the images in chunks so memory stays bounded. */
#include "cli/cli.h"

#include "scatter/scatter.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define COMMAND "scatter"

static void print_help(void)
{
    printf("usage: dpkit scatter --input IN.h5:/dataset --output OUT.h5:/dataset [options]\n"
           "\n"
           "Computes the 2D scattering transform (Kymatio-compatible ScatterNet) of every image in\n"
           "an HDF5 dataset of shape (N, H, W) or (N, C, H, W), float32 or float64, and writes the\n"
           "float32 coefficients with shape (N, K, H/2^J, W/2^J) or (N, C, K, H/2^J, W/2^J) in\n"
           "Kymatio's channel order, K = 1 + J L + L^2 J (J-1) / 2 (1 + J L for --max-order 1).\n"
           "The output file is replaced atomically; the dataset gets attributes J, L, max_order.\n"
           "\n"
           "options:\n"
           "  --J N            number of scales, 1 <= J, 2^J <= H and W (default 2)\n"
           "  --L N            number of angles (default 8)\n"
           "  --max-order N    1 or 2 (default 2)\n"
           "  --input F:D      input HDF5 file F and dataset path D\n"
           "  --output F:D     output HDF5 file F (replaced) and dataset path D\n"
           "  --threads N      threads (default: OMP_NUM_THREADS or all cores)\n"
           "  --chunk N        images read and transformed at a time (default: about 64 MiB)\n"
           "  --planning P     FFTW planning: estimate, measure or patient (default patient)\n"
           "  --wisdom FILE    FFTW wisdom file: read if it exists, updated after planning\n"
           "  -q, --quiet      only errors\n"
           "  -v, --verbose    more detail\n"
           "  -h, --help       show this help\n"
           "\n"
           "example:\n"
           "  dpkit scatter --J 2 --L 8 --input mnist.h5:/train/images "
           "--output feats.h5:/train/scatter\n");
}

/* Splits "file.h5:/dataset" at the last ':'. */
static int split_location(const char *option, const char *text, char *file, size_t file_size,
                          char *dataset, size_t dataset_size)
{
    const char *colon = strrchr(text, ':');
    if (!colon || colon == text || colon[1] == '\0')
        return cli_usage_error(COMMAND, "%s expects FILE.h5:/dataset, got '%s'", option, text);
    size_t n = (size_t)(colon - text);
    if (n >= file_size || strlen(colon + 1) + 1 >= dataset_size)
        return cli_usage_error(COMMAND, "%s: path too long", option);
    memcpy(file, text, n);
    file[n] = '\0';
    snprintf(dataset, dataset_size, "%s%s", colon[1] == '/' ? "" : "/", colon + 1);
    return 0;
}

static int parse_int_option(const char *option, const char *text, long long low, long long high,
                            int *out)
{
    long long v;
    if (cli_parse_long(COMMAND, option, text, &v))
        return 2;
    if (v < low || v > high)
        return cli_usage_error(COMMAND, "%s must be between %lld and %lld, got %lld", option, low,
                               high, v);
    *out = (int)v;
    return 0;
}

/* 1 when both paths exist and are one file (same device and inode: ./ detours, hard links and
 * symlinks included). */
static int same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

typedef scatter_file_job job;

int cli_scatter(int argc, char **argv)
{
    static const struct option options[] = {
        {"J", required_argument, NULL, 'J'},         {"L", required_argument, NULL, 'L'},
        {"max-order", required_argument, NULL, 'o'}, {"input", required_argument, NULL, 'i'},
        {"output", required_argument, NULL, 'O'},    {"threads", required_argument, NULL, 't'},
        {"chunk", required_argument, NULL, 'c'},     {"planning", required_argument, NULL, 'p'},
        {"wisdom", required_argument, NULL, 'w'},    CLI_COMMON_OPTIONS,
        {NULL, 0, NULL, 0},
    };
    job jb = {.J = 2, .L = 8, .max_order = 2, .planning = SCATTER_PLAN_PATIENT};
    int have_input = 0, have_output = 0, c;
    optind = 0;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":qvh", options, NULL)) != -1) {
        int bad = 0;
        switch (c) {
        case 'J': bad = parse_int_option("--J", optarg, 1, 16, &jb.J); break;
        case 'L': bad = parse_int_option("--L", optarg, 1, 256, &jb.L); break;
        case 'o': bad = parse_int_option("--max-order", optarg, 1, 2, &jb.max_order); break;
        case 't': bad = parse_int_option("--threads", optarg, 1, 1024, &jb.threads); break;
        case 'c': bad = parse_int_option("--chunk", optarg, 1, 1 << 30, &jb.chunk); break;
        case 'w': jb.wisdom = optarg; break;
        case 'p':
            if (strcmp(optarg, "estimate") == 0)
                jb.planning = SCATTER_PLAN_ESTIMATE;
            else if (strcmp(optarg, "measure") == 0)
                jb.planning = SCATTER_PLAN_MEASURE;
            else if (strcmp(optarg, "patient") == 0)
                jb.planning = SCATTER_PLAN_PATIENT;
            else
                bad = cli_usage_error(COMMAND, "--planning expects estimate, measure or patient, "
                                      "got '%s'", optarg);
            break;
        case 'i':
            bad = split_location("--input", optarg, jb.in_file, sizeof jb.in_file, jb.in_dataset,
                                 sizeof jb.in_dataset);
            have_input = 1;
            break;
        case 'O':
            bad = split_location("--output", optarg, jb.out_file, sizeof jb.out_file,
                                 jb.out_dataset, sizeof jb.out_dataset);
            have_output = 1;
            break;
        case 'h': print_help(); return 0;
        case ':': return cli_usage_error(COMMAND, "option '%s' needs a value", argv[optind - 1]);
        case '?': return cli_usage_error(COMMAND, "unknown option '%s'", argv[optind - 1]);
        default:
            if (!cli_common_option(c))
                return cli_usage_error(COMMAND, "unknown option '%s'", argv[optind - 1]);
        }
        if (bad)
            return 2;
    }
    if (optind < argc)
        return cli_usage_error(COMMAND, "unexpected argument '%s'", argv[optind]);
    if (!have_input)
        return cli_usage_error(COMMAND, "--input FILE.h5:/dataset is required");
    if (!have_output)
        return cli_usage_error(COMMAND, "--output FILE.h5:/dataset is required");
    /* The output replaces its file only at the end: naming the input there would lose it. The
     * wisdom file is replaced too, so it may name neither. */
    if (same_file(jb.in_file, jb.out_file))
        return cli_usage_error(COMMAND, "--output %s is the input file %s (same device and "
                               "inode): expected a different file, the input is never replaced",
                               jb.out_file, jb.in_file);
    if (jb.wisdom && (same_file(jb.wisdom, jb.in_file) || same_file(jb.wisdom, jb.out_file)))
        return cli_usage_error(COMMAND, "--wisdom %s is the %s file (same device and inode): "
                               "expected a file of its own", jb.wisdom,
                               same_file(jb.wisdom, jb.in_file) ? "input" : "output");
    dpkit_error err;
    if (scatter_file(&jb, &err))
        return cli_fail(COMMAND, &err);
    return 0;
}
