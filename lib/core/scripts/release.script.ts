import { LuaScript, SCRIPT_PRELUDE } from './lua-script.js';

/**
 * release(KEYS = the keys of every request in order,
 *         ARGV = [client, grantPrefix, n, then per request: keyCount, token])
 *   -> one code per request, in order:
 *    1  token held every key; all released
 *    0  some key had no lease any more (it had expired)
 *   -1  some key is held by another owner (left untouched)
 *
 * Every key that token holds is released, whatever the others say: giving a
 * lock up is always safe, and a key held by another owner is never touched.
 * A released key that someone waited for (marked) goes straight to the
 * first live ticket of its queue (a new lease and fence, published to that
 * ticket's client); with nobody queued it is deleted and its fence
 * published on `<key>:released`. An unmarked key is just deleted. Run twice (a
 * resent command), the second run finds nothing to release and answers 0; it
 * cannot release anyone else's lock.
 */
export const RELEASE_SCRIPT = new LuaScript(
  'release',
  `${SCRIPT_PRELUDE}
local reply, first, arg = {}, 1, 4
for r = 1, tonumber(ARGV[3]) do
  local count, token = tonumber(ARGV[arg]), ARGV[arg + 1]
  arg = arg + 2
  local result = 1
  for i = first, first + count - 1 do
    local key = KEYS[i]
    local value = redis.call('GET', key)
    local fence, fence_text = nil, nil
    if value then fence, fence_text = fence_of(value, token) end
    if fence then
      hand_over(key, value, fence_text)
    elseif value then
      result = -1
    elseif result == 1 then
      result = 0
    end
  end
  reply[r] = result
  first = first + count
end
return reply
`,
);
