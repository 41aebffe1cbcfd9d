/* A check shared by the tests of every figure dpkit draws (common/plot.h). */
#ifndef DPKIT_TESTS_TEST_UTIL_FIGURE_H
#define DPKIT_TESTS_TEST_UTIL_FIGURE_H

/* Asserts that png_path is a PNG with its script (NAME.gp) and first data file beside it, that
 * NAME.pdf and NAME.svg are there when this gnuplot has their terminals, and that running
 * `gnuplot NAME.gp` in that directory draws the PNG again. */
void test_check_figure(const char *png_path);

#endif
