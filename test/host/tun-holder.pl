#!/usr/bin/perl
# Test helper: holds a TUN device open (so it has carrier, like the daemon's) without the native addon.
# Usage: perl tun-holder.pl NAME. Creates the TUN (IFF_TUN | IFF_NO_PI, not persistent: it vanishes
# when this process exits), prints "ready NAME", then prints "pkt HEX" for every packet the kernel
# sends into it, and writes every "HEX" line read from stdin into it. Exits on stdin EOF.
# Only perl builtins: perl-base is Essential on Debian.
use strict;
use warnings;

my $name = shift @ARGV or die "usage: tun-holder.pl NAME\n";
my $TUNSETIFF = 0x400454ca;
my $IFF_TUN = 0x0001;
my $IFF_NO_PI = 0x1000;

sysopen(my $tun, '/dev/net/tun', 2) or die "open /dev/net/tun: $!\n";
my $ifr = pack('Z16 s x22', $name, $IFF_TUN | $IFF_NO_PI);
ioctl($tun, $TUNSETIFF, $ifr) or die "TUNSETIFF $name: $!\n";
$| = 1;
print "ready $name\n";

my $rin = '';
vec($rin, fileno($tun), 1) = 1;
vec($rin, fileno(STDIN), 1) = 1;
my $inbuf = '';
while (1) {
  my $rout = $rin;
  my $n = select($rout, undef, undef, undef);
  next if $n < 0 && $!{EINTR};
  die "select: $!\n" if $n < 0;
  if (vec($rout, fileno($tun), 1)) {
    my $pkt;
    my $got = sysread($tun, $pkt, 65536);
    die "read $name: $!\n" unless defined $got;
    print 'pkt ', unpack('H*', $pkt), "\n";
  }
  if (vec($rout, fileno(STDIN), 1)) {
    my $got = sysread(STDIN, $inbuf, 65536, length $inbuf);
    die "read stdin: $!\n" unless defined $got;
    exit 0 if $got == 0;
    while ($inbuf =~ s/^([^\n]*)\n//) {
      my $line = $1;
      next if $line eq '';
      my $w = syswrite($tun, pack('H*', $line));
      print 'err write: ', ($! + 0), "\n" unless defined $w;
    }
  }
}
