import { LuaScript, PARSE_LOCK_VALUE } from './lua-script.js';

/**
 * acquire(KEYS = lock keys, ARGV = [token, ttlMs]) ->
 *   {1, fence_1, ..., fence_n}  every key granted to token (all or nothing)
 *   {0, retryAfterMs}           some key is held by another owner; -1 when
 *                               the longest competing key has no expiry
 *
 * A key counts as held when it stores a live `<fence>:<owner>` or anything the
 * scripts did not write. A key already held by this token is granted again
 * with its fence kept, so a command resent after a reconnect cannot fail its
 * own acquire or hand out a second fence; a key this token has already
 * released is not taken again (the resent command arrived after the release
 * that abandoned it). The fence of a new grant is
 * max(previous fence + 1, server clock in microseconds).
 */
export const ACQUIRE_SCRIPT = new LuaScript(
  'acquire',
  `${PARSE_LOCK_VALUE}
local token, ttl = ARGV[1], ARGV[2]
local fences, busy, wait = {}, false, -1
for i, key in ipairs(KEYS) do
  local fence, state, owner = parse(redis.call('GET', key))
  if state == 'foreign' or (state == ':' and owner ~= token) then
    busy = true
    local left = redis.call('PTTL', key)
    if left > wait then wait = left end
  elseif state == '.' and owner == token then
    -- this token already released the key: a resent acquire must not take it again
    busy = true
    if wait < 0 then wait = 0 end
  elseif state == ':' then
    fences[i] = fence
  else
    fences[i] = -(fence or 0)
  end
end
if busy then return {0, wait} end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000000 + tonumber(time[2])
local reply = {1}
for i, key in ipairs(KEYS) do
  local fence = fences[i]
  if fence <= 0 then
    fence = math.max(-fence + 1, now)
  end
  redis.call('SET', key, string.format('%.0f', fence) .. ':' .. token, 'PX', ttl)
  reply[i + 1] = fence
end
return reply
`,
);
