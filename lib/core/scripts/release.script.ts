import { LuaScript, PARSE_LOCK_VALUE } from './lua-script.js';

/**
 * release(KEYS = lock keys, ARGV = [token, tombstoneTtlMs]) ->
 *    1  token held every key (or had already released it); all released
 *    0  some key had no live lease for token any more
 *   -1  some key is held by another owner (left untouched)
 *
 * Every key that token holds is released, whatever the others say: giving a
 * lock up is always safe. A released key becomes the tombstone
 * `<fence>.<token>` for tombstoneTtlMs, which keeps the next fence above this
 * one and lets a resent release answer 1 again without side effects. Each
 * release publishes its fence on `<key>:released` to wake waiters.
 */
export const RELEASE_SCRIPT = new LuaScript(
  'release',
  `${PARSE_LOCK_VALUE}
local token, keep = ARGV[1], ARGV[2]
local result = 1
for _, key in ipairs(KEYS) do
  local fence, state, owner = parse(redis.call('GET', key))
  if state == ':' and owner == token then
    local id = string.format('%.0f', fence)
    redis.call('SET', key, id .. '.' .. token, 'PX', keep)
    redis.call('PUBLISH', key .. ':released', id)
  elseif state == '.' and owner == token then
    -- already released by this token: a resent command
  elseif state == 'foreign' or state == ':' then
    result = -1
  elseif result == 1 then
    result = 0
  end
end
return result
`,
);
