DESC="tclsh: dicts, lists, string building, regexp and lsort in a Tcl script"
NEEDS="tclsh md5sum"
APT="tcl"
TIMEOUT=60
PROOF=(tclsh "$CASE_SRC/work.tcl" 10)

run() { bm tclsh "$CASE_SRC/work.tcl" 120000; echo "rc=$?"; }
