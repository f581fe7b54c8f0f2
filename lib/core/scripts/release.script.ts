import { LuaScript, OWNER_SUFFIX } from './lua-script.js';

/**
 * release(KEYS = lock keys, ARGV = [token]) ->
 *    1  token held every key; all released
 *    0  some key had no lease any more (it had expired)
 *   -1  some key is held by another owner (left untouched)
 *
 * Every key that token holds is released, whatever the others say: giving a
 * lock up is always safe, and a key held by another owner is never touched.
 * Each release publishes the released fence on `<key>:released` to wake
 * waiters. Run twice (a resent command), the second run finds nothing to
 * release and answers 0; it cannot release anyone else's lock.
 */
export const RELEASE_SCRIPT = new LuaScript(
  'release',
  `${OWNER_SUFFIX}
local result = 1
for _, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value and held_by_caller(value) then
    redis.call('DEL', key)
    redis.call('PUBLISH', key .. ':released', string.sub(value, 1, #value - #mine))
  elseif value then
    result = -1
  elseif result == 1 then
    result = 0
  end
end
return result
`,
);
