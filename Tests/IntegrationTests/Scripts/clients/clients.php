<?php
// Client matrix, php-memcached (libmemcached underneath): the sequence of clients.py, text or
// binary protocol, printing the same normalized transcript.
// Usage: php clients.php <port> [binary]. Exits 2 when the extension is missing (the test fails).

if (!class_exists('Memcached')) {
    echo "CLIENT NOT INSTALLED: php-memcached\n";
    exit(2);
}
$port = (int)$argv[1];
$binary = ($argv[2] ?? '') === 'binary';

// memcached's largest value for a 3-byte key with flags 0 under -I 1m (see clients.py).
const AT_LIMIT = 1048576 - 48 - 4 - 8 - 2;

function make_client($port, $binary, $noreply = false) {
    $c = new Memcached();
    $c->setOption(Memcached::OPT_BINARY_PROTOCOL, $binary);
    // Values as sent: no compression, no serializer for strings.
    $c->setOption(Memcached::OPT_COMPRESSION, false);
    $c->setOption(Memcached::OPT_CONNECT_TIMEOUT, 5000);
    $c->setOption(Memcached::OPT_SEND_TIMEOUT, 5000000);
    $c->setOption(Memcached::OPT_RECV_TIMEOUT, 5000000);
    $c->setOption(Memcached::OPT_POLL_TIMEOUT, 5000);
    if ($noreply) $c->setOption(Memcached::OPT_NOREPLY, true);
    $c->addServer('127.0.0.1', $port);
    return $c;
}
$c = make_client($port, $binary);

function pattern($n) {
    $s = '';
    for ($i = 0; $i < $n; $i++) $s .= chr(($i * 7 + ($i >> 8)) & 0xFF);
    return $s;
}

function show($v) {
    if ($v === null) return 'miss';
    if (is_bool($v)) return $v ? 'true' : 'false';
    if (is_int($v)) return (string)$v;
    if (strlen($v) <= 32 && preg_match('/^[\x20-\x7e]*$/', $v)) return "'" . $v . "'";
    return 'bytes:' . strlen($v) . ':' . md5($v);
}

// A failed call is the client's false plus its result code's name (not the message: it may
// carry the server's address).
function result($c, $r) {
    if ($r === false) {
        $code = $c->getResultCode();
        if ($code === Memcached::RES_NOTFOUND) return null;
        return 'false:' . $code;
    }
    return $r;
}

// A step returns what the client returned, or an array holding a line already composed.
function step($name, $f) {
    $r = $f();
    echo $name, ' ', is_array($r) ? $r[0] : ((is_string($r) && str_starts_with($r, 'false:')) ? $r : show($r)), "\n";
}

function get($c, $k) { return result($c, $c->get($k)); }

step('flush', fn() => result($c, $c->flush()));
step('set', fn() => result($c, $c->set('k1', 'hello')));
step('get', fn() => get($c, 'k1'));
step('get_missing', fn() => get($c, 'nokey'));
$keys = [];
$items = [];
for ($i = 0; $i < 100; $i++) { $k = sprintf('m%03d', $i); $keys[] = $k; $items[$k] = 'v-' . $k; }
step('set_multi_100', fn() => result($c, $c->setMulti($items)));
step('get_multi_100', function () use ($c, $keys, $items) {
    $got = $c->getMulti(array_merge($keys, ['nokey']));
    $good = 0;
    foreach ($keys as $k) if (($got[$k] ?? null) === $items[$k]) $good++;
    return [count($got) . '/' . $good];
});

step('set_1mb', fn() => result($c, $c->set('big', pattern(1000000))));
step('get_1mb', fn() => get($c, 'big'));
step('set_at_limit', fn() => result($c, $c->set('big', pattern(AT_LIMIT))));
step('get_at_limit', fn() => get($c, 'big'));
step('set_over_limit', fn() => result($c, $c->set('big', pattern(AT_LIMIT + 1))));
step('get_after_over_limit', fn() => get($c, 'big'));
step('set_over_1mb', fn() => result($c, $c->set('huge', pattern(1048577))));
step('get_over_1mb', fn() => get($c, 'huge'));

step('add_existing', fn() => result($c, $c->add('k1', 'x')));
step('add_new', fn() => result($c, $c->add('k2', 'two')));
step('replace_existing', fn() => result($c, $c->replace('k2', 'TWO')));
step('replace_missing', fn() => result($c, $c->replace('k3', 'x')));
step('append', fn() => result($c, $c->append('k2', '>>')));
step('prepend', fn() => result($c, $c->prepend('k2', '<<')));
step('get_after_append_prepend', fn() => get($c, 'k2'));
step('append_missing', fn() => result($c, $c->append('k3', 'x')));

step('cas_conflict', function () use ($c) {
    $r = $c->get('k1', null, Memcached::GET_EXTENDED);
    $c->set('k1', 'changed');
    $stale = result($c, $c->cas($r['cas'], 'k1', 'stale'));
    $r2 = $c->get('k1', null, Memcached::GET_EXTENDED);
    $fresh = result($c, $c->cas($r2['cas'], 'k1', 'fresh'));
    return [show($r['value']) . ' stale=' . show($stale) . ' fresh=' . show($fresh) . ' now=' . show(get($c, 'k1'))];
});
step('cas_missing', fn() => result($c, $c->cas(12345, 'k3', 'x')));

// php-memcached returns a PHP int (signed 64 bits): 2^64 - 1 does not fit, the call then
// returns false with RES_SUCCESS (0); the wrap to 0 after it shows as usual.
step('set_counter', fn() => result($c, $c->set('n', '18446744073709551614')));
step('incr_to_max', fn() => result($c, $c->increment('n', 1)));
step('incr_wrap', fn() => result($c, $c->increment('n', 1)));
step('get_counter', fn() => get($c, 'n'));
step('set_small', fn() => result($c, $c->set('n', '5')));
step('decr_floor', fn() => result($c, $c->decrement('n', 10)));
step('set_ten', fn() => result($c, $c->set('n', '10')));
step('decr_shrink', fn() => result($c, $c->decrement('n', 1)));
step('get_after_shrink', fn() => get($c, 'n'));
step('set_99', fn() => result($c, $c->set('n', '99')));
step('incr_grow', fn() => result($c, $c->increment('n', 1)));
step('get_after_grow', fn() => get($c, 'n'));
step('incr_missing', fn() => result($c, $c->increment('nokey', 1)));
step('incr_non_numeric', fn() => result($c, $c->increment('k2', 1)));

step('set_touch', fn() => result($c, $c->set('t', 'touched')));
step('touch', fn() => result($c, $c->touch('t', 1)));
step('touch_missing', fn() => result($c, $c->touch('nokey', 1)));

step('delete', fn() => result($c, $c->delete('k2')));
step('delete_missing', fn() => result($c, $c->delete('k2')));
step('get_deleted', fn() => get($c, 'k2'));

// On a second client with noreply; the get that checks it goes on the same connection, after it
// (on another connection it could arrive first).
$q = make_client($port, $binary, true);
step('set_noreply', fn() => $q->set('q', 'quiet'));
$q->setOption(Memcached::OPT_NOREPLY, false);
step('get_noreply', fn() => get($q, 'q'));
$q->quit();

step('version', fn() => [implode(',', array_values($c->getVersion()))]);
step('set_empty', fn() => result($c, $c->set('empty', '')));
step('get_empty', fn() => get($c, 'empty'));
step('set_key_250', fn() => result($c, $c->set(str_repeat('K', 250), 'long key')));
step('get_key_250', fn() => get($c, str_repeat('K', 250)));
step('set_key_251', fn() => result($c, $c->set(str_repeat('K', 251), 'too long')));
step('get_after_key_251', fn() => get($c, 'k1'));

step('set_binary', fn() => result($c, $c->set('bin', str_repeat(implode('', array_map('chr', range(0, 255))), 4))));
step('get_binary', fn() => get($c, 'bin'));

step('set_ttl', fn() => result($c, $c->set('e', 'expires', 3)));
step('set_long_ttl', fn() => result($c, $c->set('l', 'stays', 100)));
step('get_ttl_before', fn() => get($c, 'e'));
// exptime past 30 days is a Unix time: one 100 s ahead stays, one 100 s ago is already gone.
$now = time();
step('set_abs_future', fn() => result($c, $c->set('af', 'future', $now + 100)));
step('get_abs_future', fn() => get($c, 'af'));
step('set_abs_past', fn() => result($c, $c->set('ap', 'past', $now - 100)));
step('get_abs_past', fn() => get($c, 'ap'));
usleep(4000000);
step('get_ttl_after', fn() => get($c, 'e'));
step('get_touched_after', fn() => get($c, 't'));
step('get_long_ttl_after', fn() => get($c, 'l'));

step('flush_all', fn() => result($c, $c->flush()));
step('get_after_flush', fn() => get($c, 'k1'));
echo "CLIENT MATRIX DONE\n";
