DESC="perl core modules: Storable, Data::Dumper, JSON::PP, Digest::MD5/SHA, List::Util, threads (ithreads) with shared data"
NEEDS="perl md5sum"
APT="perl"
TIMEOUT=60
PROOF=(perl -MStorable -e 'print length(Storable::freeze([1..10])), "\n"')

run() {
	PERL_HASH_SEED=0 bm perl -e '
use strict; use warnings;
use Storable qw(freeze thaw dclone); use Data::Dumper; use JSON::PP; use Digest::MD5 qw(md5_hex);
use Digest::SHA qw(sha256_hex); use List::Util qw(sum max shuffle reduce); use threads; use threads::shared;
$Data::Dumper::Sortkeys = 1; $Data::Dumper::Indent = 1;
my %tree = map { ("k$_" => { id => $_, list => [ map { $_ * 3 } 1 .. ($_ % 30) ], name => "n" x ($_ % 50) }) } 1 .. 20000;
my $frozen = freeze(\%tree); my $copy = thaw($frozen); my $clone = dclone($copy);
print "storable ", length($frozen) > 100000 ? "big" : "small", " ", scalar(keys %$clone), "\n";
print "dumper ", md5_hex(Dumper($clone->{k77}, $clone->{k12345})), "\n";
my $json = JSON::PP->new->canonical; my $text = $json->encode({ map { ($_ => $tree{$_}) } (sort keys %tree)[0 .. 2000] });
print "json ", length($text), " ", sha256_hex($text), "\n";
my $back = $json->decode($text); print "decoded ", scalar(keys %$back), "\n";
print "sum ", sum(map { scalar @{ $_->{list} } } values %tree), " max ", max(map { $_->{id} } values %tree), "\n";
my %shared :shared; my @ths = map { my $t = $_; threads->create(sub {
	my %local; $local{$_ % 1000} .= "x$t" for 1 .. 50000;
	lock(%shared); $shared{$t} = join(",", map { length $local{$_} } 0 .. 9); return scalar keys %local }) } 1 .. 4;
my @r = map { $_->join } @ths; print "threads @r\n"; print "shared $_ $shared{$_}\n" for sort keys %shared;
'; echo "rc=$?"
}
