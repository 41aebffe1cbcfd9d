/* Figures through gnuplot (an external program, Debian package gnuplot-nox). A figure NAME.png
 * gets NAME.pdf and NAME.svg beside it, and the files that make it stay there too: the script
 * NAME.gp and its data NAME.data0.tsv, NAME.data1.tsv, ... (referred to by relative names), so
 * that `gnuplot NAME.gp` run in that directory draws the same figures again. Every file is
 * written atomically; the images are checked before they are renamed into place.
 *
 *   plot *p;  plot_begin(&p, "out/roc.png", "title", &err);
 *   FILE *s = plot_script(p);          // settings and one `plot` command after the preamble
 *   const char *data; FILE *d = plot_data(p, &data);   // a data file, named as the script uses it
 *   plot_finish(p, &err);              // writes the files, runs gnuplot; frees p in every case
 */
#ifndef DPKIT_COMMON_PLOT_H
#define DPKIT_COMMON_PLOT_H

#include "common/error.h"

#include <stdio.h>

typedef struct plot plot;

/* The most data files one figure can have. */
#define PLOT_MAX_FILES 64

/* Starts a figure: UTF-8, grid, key at the top left, optional title, and the PNG terminal
 * (pngcairo if available, else png, 800x600). The script must draw with a single `plot`
 * command: the PDF and SVG are drawn from it by `replot`. */
int plot_begin(plot **out, const char *png_path, const char *title, dpkit_error *err);
FILE *plot_script(plot *p);
/* A new data file, closed by the caller after writing; *name is the name the script refers
 * to it by (relative to the figure's directory). NULL when too many. */
FILE *plot_data(plot *p, const char **name);
/* Writes text as a gnuplot single-quoted string. */
void plot_quoted(FILE *f, const char *text);
/* Writes the data files and the script, runs gnuplot in the figure's directory, checks the
 * images and moves them into place (a format whose terminal this gnuplot lacks is skipped with
 * a warning; the PNG is required), and frees p (also on failure). */
int plot_finish(plot *p, dpkit_error *err);
/* Drops a figure without writing anything. */
void plot_abort(plot *p);

#endif
