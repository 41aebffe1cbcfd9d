# grid-cifar10.gp, written by dpkit: run `gnuplot grid-cifar10.gp` in this directory to draw grid-cifar10.png,
# grid-cifar10.pdf and grid-cifar10.svg again from the data files beside it.
if (!exists('out')) out = 'grid-cifar10'
set encoding utf8
if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {
  set terminal pngcairo size 800,600 font 'sans,11'
} else {
  set terminal png size 800,600
}
set output out.'.png'
set grid
set key left top
set title 'grid-cifar10: test accuracy against ε (δ = 1e-05, PLD accountant)'
set xlabel 'ε'
set ylabel 'test accuracy (%)'
set key outside below center vertical Left reverse
set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05
plot 'grid-cifar10.data0.tsv' using 1:2:3 with yerrorlines lw 2 pt 7 lc 1 title 'ScatterNet+linear (mean ± sample sd over 3 seeds)', 'grid-cifar10.data1.tsv' using 1:3 with points pt 12 ps 2 lw 2 lc 1 title 'ScatterNet+linear: paper, ε = 3'
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
