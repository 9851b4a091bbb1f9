DESC="perl: hashes, regexes, substitutions, sorts and nested structures over 60,000 generated lines"
NEEDS="perl"
APT="perl"
PROOF=(perl -e 'my %h = map { $_ => 1 } 1..100; print scalar(keys %h), "\n"')
TIMEOUT=60

run() {
	# PERL_HASH_SEED fixed: the script sorts its output anyway; this only makes runs comparable
	# if it ever printed in hash order.
	PERL_HASH_SEED=0 PERL_PERTURB_KEYS=0 bm perl "$CASE_SRC/perl_work.pl"; echo "rc=$?"
	bm perl -ne 'print if /alpha|beta/' /etc/services | md5sum
}
