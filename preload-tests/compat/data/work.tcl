# Allocation-heavy Tcl workload with deterministic output. usage: tclsh work.tcl N
set n [lindex $argv 0]
set x 12345
proc rnd {} { global x; set x [expr {($x * 16807) % 2147483647}]; return $x }
set words {}
for {set i 0} {$i < 2000} {incr i} { lappend words [format "w%x" [expr {[rnd] % 100000}]] }
set d [dict create]
set s ""
for {set i 0} {$i < $n} {incr i} {
    set w [lindex $words [expr {[rnd] % 2000}]]
    dict incr d $w
    if {$i % 10 == 0} { append s "$w," }
}
puts "distinct [dict size $d] len [string length $s]"
set pairs {}
dict for {k v} $d { lappend pairs [list $k $v] }
puts "top [lrange [lsort -integer -decreasing -index 1 [lsort -index 0 $pairs]] 0 4]"
puts "matches [llength [regexp -all -inline {w[0-9a-f]{4},} $s]]"
set m [string map {w W , ;} $s]
puts "map [string length $m] [string range $m 0 30]"
set l {}
for {set i 0} {$i < 100000} {incr i} { lappend l [expr {[rnd] % 1000}] }
puts "sorted [lrange [lsort -integer -unique $l] 0 5] sum [tcl::mathop::+ {*}$l]"
