#!/usr/bin/perl
# Client matrix, Perl: the sequence of clients.py through Cache::Memcached::Fast (the default) or
# Cache::Memcached (the pure-Perl client, Debian's libcache-memcached-perl), text protocol, printing
# the same normalized transcript. Cache::Memcached 1.30 has no gets/cas, touch, gat/gats, noreply
# or version call: those steps print "n/a" for it (on both servers alike); its multi-set is one set
# a key. Both clients also time the rejected stores (a 251-byte key, a key with a space, whose
# next word is read as the flags): the next request on the connection must not wait out the
# client's timeout.
# Usage: perl clients.pl <port> [Cache::Memcached]. Exits 2 when the module is missing (the test fails).
use strict;
use warnings;
use Digest::MD5 qw(md5_hex);
use Time::HiRes qw(sleep time);

my $port = $ARGV[0] or die "usage: clients.pl <port> [Cache::Memcached]\n";
my $module = $ARGV[1] // 'Cache::Memcached::Fast';
die "unknown client $module\n" unless $module eq 'Cache::Memcached::Fast' || $module eq 'Cache::Memcached';
my $fast = $module eq 'Cache::Memcached::Fast';
unless (eval "require $module; 1") {
    print "CLIENT NOT INSTALLED: $module\n";
    exit 2;
}
$| = 1;

# memcached's largest value for a 3-byte key with flags 0 under -I 1m (see clients.py).
use constant AT_LIMIT => 1048576 - 48 - 4 - 8 - 2;
# Each client's I/O timeout: a request that waits it out (a stall) shows as a slow step.
use constant TIMEOUT => 5;

sub client {
    my ($noreply) = @_;
    return Cache::Memcached->new({
        servers => ["127.0.0.1:$port"],
        connect_timeout => TIMEOUT, select_timeout => TIMEOUT,
        # no compress_threshold: values are stored as given
    }) unless $fast;
    Cache::Memcached::Fast->new({
        # noreply: a call in void context sends the request with noreply.
        servers => [{ address => "127.0.0.1:$port", noreply => $noreply ? 1 : 0 }],
        connect_timeout => TIMEOUT, io_timeout => TIMEOUT,
        compress_threshold => -1,
        # The client's own bound on a value, large enough that the server decides.
        max_size => 2 * 1024 * 1024,
        close_on_error => 0,
    });
}
my $c = client(0);

sub pattern {
    my ($n) = @_;
    return join('', map { chr(($_ * 7 + ($_ >> 8)) & 0xFF) } 0 .. $n - 1);
}

sub show {
    my ($v) = @_;
    return 'miss' unless defined $v;
    return "'$v'" if length($v) <= 32 && $v =~ /^[\x20-\x7e]*$/ && $v !~ /^\d+$/;
    return $v if $v =~ /^\d+$/ && length($v) <= 20;
    return 'bytes:' . length($v) . ':' . md5_hex($v);
}

# Cache::Memcached::Fast answers true (1), false ('' or 0) or undef (an error or a miss).
sub flag {
    my ($r) = @_;
    return 'undef' unless defined $r;
    return $r ? 'true' : 'false';
}

sub step {
    my ($name, $line) = @_;
    print "$name $line\n";
}

step('flush', flag($c->flush_all));
step('set', flag($c->set('k1', 'hello')));
step('get', show($c->get('k1')));
step('get_missing', show($c->get('nokey')));
my @keys = map { sprintf('m%03d', $_) } 0 .. 99;
my @res = $fast ? $c->set_multi(map { [$_, "v-$_"] } @keys) : map { $c->set($_, "v-$_") } @keys;
step('set_multi_100', (grep { !$_ } @res) ? 'false' : 'true');
{
    my $got = $c->get_multi(@keys, 'nokey');
    my $good = grep { defined $got->{$_} && $got->{$_} eq "v-$_" } @keys;
    step('get_multi_100', scalar(keys %$got) . "/$good");
}

step('set_1mb', flag($c->set('big', pattern(1000000))));
step('get_1mb', show($c->get('big')));
step('set_at_limit', flag($c->set('big', pattern(AT_LIMIT))));
step('get_at_limit', show($c->get('big')));
step('set_over_limit', flag($c->set('big', pattern(AT_LIMIT + 1))));
step('get_after_over_limit', show($c->get('big')));
step('set_over_1mb', flag($c->set('huge', pattern(1048577))));
step('get_over_1mb', show($c->get('huge')));

step('add_existing', flag($c->add('k1', 'x')));
step('add_new', flag($c->add('k2', 'two')));
step('replace_existing', flag($c->replace('k2', 'TWO')));
step('replace_missing', flag($c->replace('k3', 'x')));
step('append', flag($c->append('k2', '>>')));
step('prepend', flag($c->prepend('k2', '<<')));
step('get_after_append_prepend', show($c->get('k2')));
step('append_missing', flag($c->append('k3', 'x')));

if ($fast) {
    my $g = $c->gets('k1');
    $c->set('k1', 'changed');
    my $stale = $c->cas('k1', $g->[0], 'stale');
    my $g2 = $c->gets('k1');
    my $fresh = $c->cas('k1', $g2->[0], 'fresh');
    step('cas_conflict', show($g->[1]) . ' stale=' . flag($stale) . ' fresh=' . flag($fresh) . ' now=' . show($c->get('k1')));
    step('cas_missing', flag($c->cas('k3', 12345, 'x')));
} else {
    step($_, 'n/a') for qw(cas_conflict cas_missing);
}

step('set_counter', flag($c->set('n', '18446744073709551614')));
step('incr_to_max', show($c->incr('n', 1)));
step('incr_wrap', show($c->incr('n', 1)));
step('get_counter', show($c->get('n')));
step('set_small', flag($c->set('n', '5')));
step('decr_floor', show($c->decr('n', 10)));
step('set_ten', flag($c->set('n', '10')));
step('decr_shrink', show($c->decr('n', 1)));
step('get_after_shrink', show($c->get('n')));
step('set_99', flag($c->set('n', '99')));
step('incr_grow', show($c->incr('n', 1)));
step('get_after_grow', show($c->get('n')));
step('incr_missing', show($c->incr('nokey', 1)));
step('incr_non_numeric', show($c->incr('k2', 1)));

step('set_touch', flag($c->set('t', 'touched')));
step('set_gat', flag($c->set('g', 'gotten')));
if ($fast) {
    step('touch', flag($c->touch('t', 1)));
    step('touch_missing', flag($c->touch('nokey', 1)));
    step('gat', show($c->gat(1, 'g')));
    step('gat_missing', show($c->gat(1, 'nokey')));
    my $r = $c->gats(1, 'g');
    step('gats', defined $r ? show($r->[1]) . ' cas=' . ($r->[0] > 0 ? 'yes' : 'no') : 'miss');
} else {
    step($_, 'n/a') for qw(touch touch_missing gat gat_missing gats);
}

step('delete', flag($c->delete('k2')));
step('delete_missing', flag($c->delete('k2')));
step('get_deleted', show($c->get('k2')));

if ($fast) {
    # A void-context call sends the request with noreply; the get that checks it goes on the same
    # connection, after it (on another connection it could arrive first).
    my $q = client(1);
    $q->set('q', 'quiet');
    step('set_noreply', 'sent');
    step('get_noreply', show($q->get('q')));
} else {
    step($_, 'n/a') for qw(set_noreply get_noreply);
}

step('version', $fast ? join(',', values %{ $c->server_versions })
                      : join(',', map { $_->{misc}{version} // 'none' } values %{ $c->stats(['misc'])->{hosts} }));
step('set_empty', flag($c->set('empty', '')));
step('get_empty', show($c->get('empty')));
step('set_key_250', flag($c->set('K' x 250, 'long key')));
step('get_key_250', show($c->get('K' x 250)));
{
    # Rejected stores: the server refuses the command line (CLIENT_ERROR bad command line format)
    # without reading the data block, whose line then gets ERROR, as memcached 1.6.18 does. Both
    # replies come in one write, so the client reads them as the set's reply; the next request
    # must be answered at once (a client that met the ERROR line instead would wait out its
    # timeout). Cache::Memcached::Fast on a client of its own (it resynchronizes when it can);
    # Cache::Memcached shares one socket per server among its objects.
    my $long = client(0);
    my $t0 = time();
    step('set_key_251', flag($long->set('K' x 251, 'too long')));
    step('get_after_key_251', show($long->get('k1')));
    # A key with a space: the word after it is read as the flags (Cache::Memcached does not check
    # keys; Cache::Memcached::Fast sends it as given too).
    step('set_key_space', flag($long->set('bad key', 'spaced')));
    step('get_after_key_space', show($long->get('k1')));
    step('rejected_stores_time', time() - $t0 < TIMEOUT / 2 ? 'bounded' : sprintf('stalled %.1fs', time() - $t0));
    # A key with a control byte is stored, as memcached stores it.
    step('set_key_ctrl', flag($long->set("k\x01x", 'ctrl')));
    step('get_key_ctrl', show($long->get("k\x01x")));
}

step('set_binary', flag($c->set('bin', join('', map { chr } 0 .. 255) x 4)));
step('get_binary', show($c->get('bin')));

step('set_ttl', flag($c->set('e', 'expires', 3)));
step('set_long_ttl', flag($c->set('l', 'stays', 100)));
step('get_ttl_before', show($c->get('e')));
# exptime past 30 days is a Unix time: one 100 s ahead stays, one 100 s ago is already gone.
my $now = int(time());
step('set_abs_future', flag($c->set('af', 'future', $now + 100)));
step('get_abs_future', show($c->get('af')));
step('set_abs_past', flag($c->set('ap', 'past', $now - 100)));
step('get_abs_past', show($c->get('ap')));
sleep(4);
step('get_ttl_after', show($c->get('e')));
step('get_touched_after', show($c->get('t')));
step('get_gat_after', show($c->get('g')));
step('get_long_ttl_after', show($c->get('l')));

step('flush_all', flag($c->flush_all));
step('get_after_flush', show($c->get('k1')));
print "CLIENT MATRIX DONE\n";
