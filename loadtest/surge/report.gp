# gnuplot -e "dir='OUT'; wrk=RPS" loadtest/surge/report.gp: plots OUT/series.tsv (written by surge-check)
# into OUT/surge.svg: requests/s by route, answers by status, p50/p99 latency, seats left; x is seconds
# from the release T.
if (!exists("dir")) dir = "."
if (!exists("wrk")) wrk = 0
f = dir . "/series.tsv"
stats f using 1 nooutput
set terminal svg size 1100,1500 dynamic font "sans,11" background "white"
set output dir . "/surge.svg"
set multiplot layout 4,1 title sprintf("citas opening-day surge (wrk /healthz reference: %.0f req/s)", wrk)
set grid
set key outside right top samplen 3 spacing 1.2
set xlabel "seconds from release T"
set xrange [STATS_min:STATS_max]
set arrow 1 from 0, graph 0 to 0, graph 1 nohead dt 2 lc rgb "black"

set title "requests/s by route"
set ylabel "answers/s"
plot f using 1:2 with lines lw 2 lc rgb "black" title "all", \
     f using 1:3 with lines title "login", \
     f using 1:4 with lines title "login code", \
     f using 1:5 with lines title "availability", \
     f using 1:6 with lines title "book", \
     f using 1:7 with lines title "captcha", \
     f using 1:8 with lines title "other"

set title "answers by status (per second)"
set ylabel "answers/s"
set logscale y
set yrange [0.8:*]
plot f using 1:9 with lines lc rgb "forest-green" title "2xx", \
     f using 1:10 with lines lc rgb "orange" title "409 sold out", \
     f using 1:11 with lines lc rgb "purple" title "429", \
     f using 1:12 with lines lc rgb "brown" title "other 4xx", \
     f using 1:13 with lines lw 2 lc rgb "red" title "5xx", \
     f using 1:14 with lines lw 2 lc rgb "magenta" title "no answer"
unset yrange

set title "latency (per second)"
set ylabel "ms"
set logscale y
plot f using 1:16 with lines lc rgb "blue" title "availability p50", \
     f using 1:17 with lines lw 2 lc rgb "blue" dt 2 title "availability p99", \
     f using 1:18 with lines lc rgb "red" title "book p50", \
     f using 1:19 with lines lw 2 lc rgb "red" dt 2 title "book p99", \
     f using 1:(250) with lines lc rgb "gray" dt 3 title "250 ms target"
unset logscale y

set title "seats left (capacity minus 201 answers so far)"
set ylabel "seats"
set yrange [0:*]
plot f using 1:21 with steps lw 2 lc rgb "dark-green" title "seats left"
unset multiplot
