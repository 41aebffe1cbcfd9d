# privacy.gp, written by dpkit: run `gnuplot privacy.gp` in this directory to draw privacy.png,
# privacy.pdf and privacy.svg again from the data files beside it.
if (!exists('out')) out = 'privacy'
set encoding utf8
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  set terminal pngcairo size 800,600 font 'sans,11'
} else {
  set terminal png size 800,600
}
set output out.'.png'
set grid
set key left top
set title 'mnist: robust accuracy at radius 0.1 against DP ε'
set xlabel 'DP ε (∞: not private)'
set ylabel 'robust accuracy (%)'
set yrange [0:100]
set logscale x
set xrange [0.666667:24]
set key outside below
set xtics add ('∞' 16)
plot 'privacy.data0.tsv' using 1:2 with linespoints lw 2 pt 7 title 'CNN', 'privacy.data1.tsv' using 1:2 with linespoints lw 2 pt 7 title 'ScatterNet+linear'
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
