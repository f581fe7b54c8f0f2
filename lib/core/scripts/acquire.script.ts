import { LuaScript, OWNER_SUFFIX } from './lua-script.js';

/**
 * acquire(KEYS = lock keys, ARGV = [token, ttlMs, client, markTtlMs]) ->
 *   {1, fence_1, ..., fence_n, others}  every key granted to token (all or
 *                                       nothing); others = 1 when another
 *                                       client was seen waiting for the key
 *   {0, retryAfterMs}                   some key is held by another owner;
 *                                       the longest competing lease (-1: no
 *                                       expiry)
 *
 * A key counts as held when it stores `<fence>:<owner>` for another owner, or
 * anything the scripts did not write. A key already held by this token is
 * granted again with its lease renewed and its fence kept, so that a command
 * resent after a reconnect can neither fail its own acquire nor hand out a
 * second fence. A new grant's fence is the server clock in microseconds.
 *
 * A refused attempt leaves `<key>:w` = client (for markTtlMs): the last
 * client (process) that waited. A single-key grant reports whether that was
 * another client, so that the holder's process does not keep handing the
 * lock to its own waiters while other processes wait.
 */
export const ACQUIRE_SCRIPT = new LuaScript(
  'acquire',
  `${OWNER_SUFFIX}
local ttl, client = ARGV[2], ARGV[3]
local fences, wait = {}, -2
for i, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value and held_by_caller(value) then
    fences[i] = tonumber(string.sub(value, 1, #value - #mine))
  elseif value then
    local left = redis.call('PTTL', key)
    if left > wait then wait = left end
    redis.call('SET', key .. ':w', client, 'PX', ARGV[4])
  end
end
if wait > -2 then return {0, wait} end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local fresh = string.format('%.0f', now) .. mine
local reply = {1}
for i, key in ipairs(KEYS) do
  if fences[i] then
    redis.call('PEXPIRE', key, ttl)
  else
    redis.call('SET', key, fresh, 'PX', ttl)
    fences[i] = now
  end
  reply[i + 1] = fences[i]
end
local others = 0
if #KEYS == 1 then
  local waiter = redis.call('GET', KEYS[1] .. ':w')
  if waiter and waiter ~= client then others = 1 end
end
reply[#KEYS + 2] = others
return reply
`,
);
