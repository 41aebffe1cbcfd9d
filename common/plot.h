/* PNG plots through gnuplot (an external program, Debian package gnuplot-nox): a script and its
 * data files in a scratch directory, the image written beside its final name and renamed once it
 * is checked to be a PNG.
 *
 *   plot *p;  plot_begin(&p, "out.png", "title", &err);
 *   FILE *s = plot_script(p);          // add commands after the terminal preamble
 *   const char *data; FILE *d = plot_data(p, &data);   // a data file to plot
 *   plot_finish(p, &err);              // runs gnuplot; frees p in every case
 */
#ifndef DPKIT_COMMON_PLOT_H
#define DPKIT_COMMON_PLOT_H

#include "common/error.h"

#include <stdio.h>

typedef struct plot plot;

/* Starts a plot: terminal (pngcairo if available, else png, 800x600), grid, key at the top
 * left, optional title. */
int plot_begin(plot **out, const char *png_path, const char *title, dpkit_error *err);
FILE *plot_script(plot *p);
/* A new data file (closed by the caller after writing); NULL when too many. */
FILE *plot_data(plot *p, const char **path);
/* Writes text as a gnuplot single-quoted string. */
void plot_quoted(FILE *f, const char *text);
/* Closes the script, runs gnuplot, checks and moves the PNG into place, removes the scratch
 * files and frees p (also on failure). */
int plot_finish(plot *p, dpkit_error *err);
/* Drops a plot without running gnuplot. */
void plot_abort(plot *p);

#endif
