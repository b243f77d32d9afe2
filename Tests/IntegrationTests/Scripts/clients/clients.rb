# Client matrix, Dalli (3.0, binary protocol): the sequence of clients.py through this Ruby
# client, printing the same normalized transcript.
# Usage: ruby clients.rb <port>. Exits 2 when Dalli is missing (the test fails).
begin
  require 'dalli'
rescue LoadError => e
  puts "CLIENT NOT INSTALLED: dalli (#{e.message})"
  exit 2
end
require 'digest/md5'
require 'logger'

$stdout.sync = true
Dalli.logger = Logger.new(nil)
port = Integer(ARGV[0])

# memcached's largest value for a 3-byte key with flags 0 under -I 1m (see clients.py).
AT_LIMIT = 1048576 - 48 - 4 - 8 - 2

def client(port)
  # No compression, the client's own size bound above the server's so that the server decides.
  Dalli::Client.new("127.0.0.1:#{port}", compress: false, value_max_bytes: 2 * 1024 * 1024,
                    socket_timeout: 5, socket_max_failures: 1, down_retry_delay: 0)
end
c = client(port)

# Values stored as sent (no Marshal): Dalli 3.0 takes raw per request.
RAW = { raw: true }.freeze

# Dalli's storage calls answer the item's CAS (an Integer, 0 when nothing was stored) or false.
def ok(r)
  r.is_a?(Integer) ? r.positive? : !!r
end

def pattern(n)
  (0...n).map { |i| ((i * 7 + (i >> 8)) & 0xFF).chr }.join.b
end

def show(v)
  return 'miss' if v.nil?
  return v.to_s if v == true || v == false || v.is_a?(Integer)
  v = v.to_s.b
  return "'#{v}'" if v.bytesize <= 32 && v.match?(/\A[\x20-\x7e]*\z/n)
  "bytes:#{v.bytesize}:#{Digest::MD5.hexdigest(v)}"
end

# A step prints what the client returned, or the class of what it raised.
def step(name)
  r = begin
    v = yield
    v.is_a?(Array) ? v[0] : show(v)
  rescue StandardError => e
    "error:#{e.class}"
  end
  puts "#{name} #{r}"
end

step('flush') { c.flush_all && true }
step('set') { ok(c.set('k1', 'hello', 0, RAW)) }
step('get') { c.get('k1') }
step('get_missing') { c.get('nokey') }
keys = (0...100).map { |i| format('m%03d', i) }
step('set_multi_100') { c.multi { keys.each { |k| c.set(k, "v-#{k}", 0, RAW) } }; true }
step('get_multi_100') do
  got = c.get_multi(*(keys + ['nokey']))
  ["#{got.size}/#{keys.count { |k| got[k] == "v-#{k}" }}"]
end

step('set_1mb') { ok(c.set('big', pattern(1_000_000), 0, RAW)) }
step('get_1mb') { c.get('big') }
step('set_at_limit') { ok(c.set('big', pattern(AT_LIMIT), 0, RAW)) }
step('get_at_limit') { c.get('big') }
step('set_over_limit') { ok(c.set('big', pattern(AT_LIMIT + 1), 0, RAW)) }
step('get_after_over_limit') { c.get('big') }
step('set_over_1mb') { ok(c.set('huge', pattern(1_048_577), 0, RAW)) }
step('get_over_1mb') { c.get('huge') }

step('add_existing') { ok(c.add('k1', 'x', 0, RAW)) }
step('add_new') { ok(c.add('k2', 'two', 0, RAW)) }
step('replace_existing') { ok(c.replace('k2', 'TWO', 0, RAW)) }
step('replace_missing') { ok(c.replace('k3', 'x', 0, RAW)) }
step('append') { ok(c.append('k2', '>>')) }
step('prepend') { ok(c.prepend('k2', '<<')) }
step('get_after_append_prepend') { c.get('k2') }
step('append_missing') { ok(c.append('k3', 'x')) }

step('cas_conflict') do
  v, token = c.get_cas('k1')
  c.set('k1', 'changed', 0, RAW)
  stale = c.set_cas('k1', 'stale', token, 0, RAW)
  _, token2 = c.get_cas('k1')
  fresh = c.set_cas('k1', 'fresh', token2, 0, RAW)
  ["#{show(v)} stale=#{show(ok(stale))} fresh=#{show(ok(fresh))} now=#{show(c.get('k1'))}"]
end
step('cas_missing') { ok(c.set_cas('k3', 'x', 12345, 0, RAW)) }

step('set_counter') { ok(c.set('n', '18446744073709551614', 0, RAW)) }
step('incr_to_max') { c.incr('n', 1) }
step('incr_wrap') { c.incr('n', 1) }
step('get_counter') { c.get('n') }
step('set_small') { ok(c.set('n', '5', 0, RAW)) }
step('decr_floor') { c.decr('n', 10) }
step('set_ten') { ok(c.set('n', '10', 0, RAW)) }
step('decr_shrink') { c.decr('n', 1) }
step('get_after_shrink') { c.get('n') }
step('set_99') { ok(c.set('n', '99', 0, RAW)) }
step('incr_grow') { c.incr('n', 1) }
step('get_after_grow') { c.get('n') }
step('incr_missing') { c.incr('nokey', 1) }
step('incr_non_numeric') { c.incr('k2', 1) }

step('set_touch') { ok(c.set('t', 'touched', 0, RAW)) }
step('touch') { ok(c.touch('t', 1)) }
step('touch_missing') { ok(c.touch('nokey', 1)) }
step('set_gat') { ok(c.set('g', 'gotten', 0, RAW)) }
step('gat') { c.gat('g', 1) }
step('gat_missing') { c.gat('nokey', 1) }

step('delete') { ok(c.delete('k2')) }
step('delete_missing') { ok(c.delete('k2')) }
step('get_deleted') { c.get('k2') }

# Dalli's multi block sends its requests quiet (SETQ) and ends them with a NOOP.
step('set_noreply') { c.multi { c.set('q', 'quiet', 0, RAW) }; true }
step('get_noreply') { c.get('q') }

step('version') { [c.version.values.join(',')] }
step('set_empty') { ok(c.set('empty', '', 0, RAW)) }
step('get_empty') { c.get('empty') }
step('set_key_250') { ok(c.set('K' * 250, 'long key', 0, RAW)) }
step('get_key_250') { c.get('K' * 250) }
step('set_key_251') { ok(c.set('K' * 251, 'too long', 0, RAW)) }
step('get_after_key_251') { c.get('k1') }

step('set_binary') { ok(c.set('bin', ((0..255).map(&:chr).join * 4).b, 0, RAW)) }
step('get_binary') { c.get('bin') }

step('set_ttl') { ok(c.set('e', 'expires', 3, RAW)) }
step('set_long_ttl') { ok(c.set('l', 'stays', 100, RAW)) }
step('get_ttl_before') { c.get('e') }
# exptime past 30 days is a Unix time: one 100 s ahead stays, one 100 s ago is already gone.
now = Time.now.to_i
step('set_abs_future') { ok(c.set('af', 'future', now + 100, RAW)) }
step('get_abs_future') { c.get('af') }
step('set_abs_past') { ok(c.set('ap', 'past', now - 100, RAW)) }
step('get_abs_past') { c.get('ap') }
sleep 4
step('get_ttl_after') { c.get('e') }
step('get_touched_after') { c.get('t') }
step('get_gat_after') { c.get('g') }
step('get_long_ttl_after') { c.get('l') }

step('flush_all') { c.flush_all && true }
step('get_after_flush') { c.get('k1') }
puts 'CLIENT MATRIX DONE'
