# Hash-, regex- and string-heavy Perl workload with deterministic output.
use strict; use warnings;
my $x = 20240601;
sub rnd { $x = ($x * 16807) % 2147483647; return $x }
my @vocab = map { join '', map { chr(97 + rnd() % 26) } 1 .. (3 + rnd() % 9) } 1 .. 3000;
my (%count, %pos, @lines);
for my $l (1 .. 60000) {
    my $line = join ' ', map { $vocab[rnd() % @vocab] } 1 .. (4 + rnd() % 12);
    $line .= sprintf(" id=%d mail=%s\@%s.org date=%04d-%02d-%02d", rnd() % 100000,
        $vocab[rnd() % @vocab], $vocab[rnd() % @vocab], 1990 + rnd() % 35, 1 + rnd() % 12, 1 + rnd() % 28);
    push @lines, $line;
}
for my $i (0 .. $#lines) {
    my $line = $lines[$i];
    $count{$_}++ for split /\s+/, $line;
    while ($line =~ /\b([a-z]{6,})\b/g) { push @{ $pos{$1} }, $i }
}
my @top = (sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count)[0 .. 9];
print "top: @top\n";
print "distinct words: ", scalar(keys %count), "\n";
my ($mails, $dates, %years) = (0, 0);
for (@lines) {
    $mails++ while /\b\w+\@\w+\.org\b/g;
    if (/date=(\d{4})-(\d\d)-(\d\d)/) { $dates++; $years{$1}++ }
}
print "mails $mails dates $dates\n";
print join(',', map { "$_:$years{$_}" } sort keys %years), "\n";
my $text = join "\n", @lines;
(my $t2 = $text) =~ s/(\w+)\@(\w+)\.org/<$2 at $1>/g;
$t2 =~ tr/a-m/n-z/;
my @parts = split /vq=/, $t2;
print "parts ", scalar(@parts), " len ", length($t2), "\n";
my %inv;
while (my ($w, $l) = each %pos) { $inv{scalar @$l}{$w} = 1 }
for my $n ((sort { $b <=> $a } keys %inv)[0 .. 4]) { print "pos $n: ", join(' ', grep { defined } (sort keys %{ $inv{$n} })[0 .. 2]), "\n" }
my @s = sort { length($a) <=> length($b) or $a cmp $b } map { scalar reverse } @vocab;
print "rev: @s[0..4] @s[-3..-1]\n";
my $big = '';
$big .= sprintf("%08x", rnd()) for 1 .. 200000;
print "hexlen ", length($big), " fcount ", ($big =~ tr/f//), "\n";
my @nested = map { { id => $_, tags => [ map { $vocab[($_ * 7) % @vocab] } 1 .. ($_ % 20) ] } } 1 .. 50000;
my $sum = 0; $sum += scalar @{ $_->{tags} } for @nested;
print "nested $sum\n";
my @sorted = sort { $a->[1] cmp $b->[1] } map { [$_, lc $_] } @lines[0 .. 19999];
print "first: ", substr($sorted[0][0], 0, 40), "\n";
