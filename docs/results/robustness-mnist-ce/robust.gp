# robust.gp, written by dpkit: run `gnuplot robust.gp` in this directory to draw robust.png,
# robust.pdf and robust.svg again from the data files beside it.
if (!exists('out')) out = 'robust'
set encoding utf8
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  set terminal pngcairo size 800,600 font 'sans,11'
} else {
  set terminal png size 800,600
}
set output out.'.png'
set grid
set key left top
set title 'mnist: accuracy under PGD L∞'
set xlabel 'perturbation radius'
set ylabel 'accuracy (%)'
set yrange [0:100]
set key outside below
plot 'robust.data0.tsv' using 1:2 with linespoints lw 2 pt 7 title 'CNN, eps 1', 'robust.data1.tsv' using 1:2 with linespoints lw 2 pt 7 title 'CNN, eps 2', 'robust.data2.tsv' using 1:2 with linespoints lw 2 pt 7 title 'CNN, eps 3', 'robust.data3.tsv' using 1:2 with linespoints lw 2 pt 7 title 'CNN, eps 8', 'robust.data4.tsv' using 1:2 with linespoints lw 2 pt 7 title 'CNN, not private', 'robust.data5.tsv' using 1:2 with linespoints lw 2 pt 7 title 'ScatterNet+linear, eps 1', 'robust.data6.tsv' using 1:2 with linespoints lw 2 pt 7 title 'ScatterNet+linear, eps 2', 'robust.data7.tsv' using 1:2 with linespoints lw 2 pt 7 title 'ScatterNet+linear, eps 3', 'robust.data8.tsv' using 1:2 with linespoints lw 2 pt 7 title 'ScatterNet+linear, eps 8', 'robust.data9.tsv' using 1:2 with linespoints lw 2 pt 7 title 'ScatterNet+linear, not private'
set output
if (strstrt(GPVAL_TERMINALS, 'pdfcairo') > 0) {
  set terminal pdfcairo size 6in,4.5in font 'sans,9'
  set output out.'.pdf'
  replot
  set output
} else {
  print 'no pdfcairo terminal: ', out, '.pdf not drawn'
}
if (strstrt(GPVAL_TERMINALS, 'svg') > 0) {
  set terminal svg size 800,600 font 'sans,11' background rgb 'white'
  set output out.'.svg'
  replot
  set output
} else {
  print 'no svg terminal: ', out, '.svg not drawn'
}
