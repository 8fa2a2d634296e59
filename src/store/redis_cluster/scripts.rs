//! The Lua scripts the store runs on the nodes. Each touches the keys of one
//! hash slot only (Redis Cluster refuses anything else), so each runs
//! atomically on one node. Sequence numbers travel as decimal strings and are
//! compared with `tonumber` (exact below 2^53); field names are never built
//! from Lua numbers, whose `tostring` may switch to exponent notation.

/// Shared by the coordinator scripts: `now` in ms, the read point `r` (every
/// batch at or below it is finished) and dropping expired leases.
/// KEYS: seq, pending, state, leases, lease expiries.
const COORD_PRELUDE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local seq = tonumber(redis.call('GET', KEYS[1]) or '0')
local r = seq
local p = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
if #p > 0 then r = tonumber(p[2]) - 1 end
local ex = redis.call('HGETALL', KEYS[5])
for i = 1, #ex, 2 do
  if tonumber(ex[i + 1]) < now then
    redis.call('ZREM', KEYS[4], ex[i])
    redis.call('HDEL', KEYS[5], ex[i])
  end
end
";

/// Allocates the next sequence number `s` for a batch touching the buckets in
/// ARGV[1] (comma separated, or `*` for all), marks it pending, and returns
/// `{s, h}` with `h` the garbage-collection horizon: no reader needs a
/// version older than the newest one at or below `h`.
pub(super) fn alloc() -> String {
    format!(
        "{COORD_PRELUDE}
local h = r
local m = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
if #m > 0 and tonumber(m[2]) < h then h = tonumber(m[2]) end
local s = redis.call('INCR', KEYS[1])
redis.call('ZADD', KEYS[2], s, s)
redis.call('HSET', KEYS[3], s, 'p:' .. now .. ':' .. ARGV[1])
return {{s, h}}
"
    )
}

/// Returns `{r, stale...}`: the read point and up to 8 pending batches that
/// started more than ARGV[2] ms ago (their writer is presumed dead). With a
/// lease id in ARGV[1], registers a lease at `r` for ARGV[3] ms so that no
/// version a reader at `r` needs is collected meanwhile.
pub(super) fn read_point() -> String {
    format!(
        "{COORD_PRELUDE}
local out = {{r}}
local ps = redis.call('ZRANGE', KEYS[2], 0, 7)
for _, s in ipairs(ps) do
  local st = redis.call('HGET', KEYS[3], s)
  if st then
    local started = tonumber(string.match(st, '^%a:(%d+):'))
    if started and now - started > tonumber(ARGV[2]) then table.insert(out, s) end
  end
end
if ARGV[1] ~= '' then
  redis.call('ZADD', KEYS[4], r, ARGV[1])
  redis.call('HSET', KEYS[5], ARGV[1], now + tonumber(ARGV[3]))
end
return out
"
    )
}

/// Extends lease ARGV[1] by ARGV[2] ms; 0 if it had expired already.
/// KEYS: leases, lease expiries.
pub(super) const RENEW: &str = r"
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[2], ARGV[1], now + tonumber(ARGV[2]))
return 1
";

/// Drops lease ARGV[1]. KEYS: leases, lease expiries.
pub(super) const RELEASE: &str = r"
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
";

/// The commit point: batch ARGV[1] leaves the pending set if it is still
/// pending (not being aborted). 1 on commit, 0 if it was aborted.
/// KEYS: pending, state.
pub(super) const COMMIT: &str = r"
local st = redis.call('HGET', KEYS[2], ARGV[1])
if not st or string.sub(st, 1, 1) ~= 'p' then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
";

/// Starts aborting batch ARGV[1]: returns its bucket list and marks it
/// aborting (a later commit fails), or nil if it is finished already.
/// KEYS: state.
pub(super) const ABORT_BEGIN: &str = r"
local st = redis.call('HGET', KEYS[1], ARGV[1])
if not st then return false end
local rest = string.sub(st, 2)
redis.call('HSET', KEYS[1], ARGV[1], 'a' .. rest)
return string.match(rest, '^:%d+:(.*)$') or ''
";

/// Ends an abort: the batch is no longer pending. KEYS: pending, state.
pub(super) const ABORT_END: &str = r"
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[1])
return 1
";

/// Shared by the bucket scripts: the version fields of a data key, sorted.
const VERSIONS: &str = r"
local function versions(dk)
  local out = {}
  for _, f in ipairs(redis.call('HKEYS', dk)) do
    if f ~= 'f' then table.insert(out, {tonumber(f), f}) end
  end
  table.sort(out, function(a, b) return a[1] < b[1] end)
  return out
end
";

/// Removes, in one bucket, every version batch ARGV[1] wrote and marks the
/// batch aborted there so that a late prepare of it is refused.
/// KEYS: the bucket's aborted set, its pending-members set for the batch,
/// its index. ARGV[2]: the bucket's key prefix.
pub(super) fn abort_bucket() -> String {
    format!(
        "{VERSIONS}
redis.call('SADD', KEYS[1], ARGV[1])
for _, m in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  local dk = ARGV[2] .. 'd' .. m
  redis.call('HDEL', dk, ARGV[1])
  if #versions(dk) == 0 then
    redis.call('DEL', dk)
    redis.call('ZREM', KEYS[3], m)
  end
end
redis.call('DEL', KEYS[2])
return 1
"
    )
}

/// Writes version ARGV[1] of the members in ARGV[4..] (pairs of member and
/// encoded version) into one bucket, indexes them, and collects versions no
/// reader needs below horizon ARGV[2]. Refused with `ABORTED` if the batch
/// was aborted here. ARGV[3]: the bucket's key prefix.
/// KEYS: aborted set, pending-members set for the batch, index, tombstones,
/// deletion floor.
pub(super) fn prepare() -> String {
    format!(
        "{VERSIONS}
local s = ARGV[1]
local h = tonumber(ARGV[2])
local pre = ARGV[3]
if redis.call('SISMEMBER', KEYS[1], s) == 1 then return redis.error_reply('ABORTED batch ' .. s) end
local function collect(dk)
  local vs = versions(dk)
  local keep = nil
  for i = #vs, 1, -1 do
    if vs[i][1] <= h then keep = i break end
  end
  if keep and keep > 1 then
    for i = 1, keep - 1 do redis.call('HDEL', dk, vs[i][2]) end
    redis.call('HSET', dk, 'f', vs[keep][2])
  end
end
for i = 4, #ARGV, 2 do
  local m = ARGV[i]
  local dk = pre .. 'd' .. m
  local floor = tonumber(redis.call('HGET', dk, 'f') or '0')
  if tonumber(s) > floor then
    redis.call('HSET', dk, s, ARGV[i + 1])
    redis.call('ZADD', KEYS[3], 0, m)
    redis.call('SADD', KEYS[2], m)
    if string.byte(ARGV[i + 1], 1) == 0 then redis.call('ZADD', KEYS[4], tonumber(s), m) end
    collect(dk)
  end
end
redis.call('EXPIRE', KEYS[2], 86400)
local ts = redis.call('ZRANGEBYSCORE', KEYS[4], '-inf', h, 'WITHSCORES', 'LIMIT', 0, 32)
for j = 1, #ts, 2 do
  local m = ts[j]
  local dk = pre .. 'd' .. m
  local vs = versions(dk)
  if #vs > 0 and vs[#vs][1] == tonumber(ts[j + 1]) then
    redis.call('DEL', dk)
    redis.call('ZREM', KEYS[3], m)
    local df = tonumber(redis.call('GET', KEYS[5]) or '0')
    if vs[#vs][1] > df then redis.call('SET', KEYS[5], vs[#vs][2]) end
  end
  redis.call('ZREM', KEYS[4], m)
end
return 1
"
    )
}

/// Reads data key KEYS[1] as of read point ARGV[1]: `{0}` absent, `{1,
/// field, version}` present (the version may be a tombstone), `{2}` if a
/// version the reader needs was collected (read again at a newer point).
/// KEYS[2]: the bucket's deletion floor.
pub(super) fn read() -> String {
    format!(
        "{VERSIONS}
local r = tonumber(ARGV[1])
if redis.call('EXISTS', KEYS[1]) == 0 then
  if r < tonumber(redis.call('GET', KEYS[2]) or '0') then return {{2}} end
  return {{0}}
end
if r < tonumber(redis.call('HGET', KEYS[1], 'f') or '0') then return {{2}} end
local vs = versions(KEYS[1])
for i = #vs, 1, -1 do
  if vs[i][1] <= r then return {{1, vs[i][2], redis.call('HGET', KEYS[1], vs[i][2])}} end
end
return {{0}}
"
    )
}

/// Releases lock KEYS[1] if ARGV[1], the holder's token, still holds it.
pub(super) const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";
