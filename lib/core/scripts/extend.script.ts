import { LuaScript, PARSE_LOCK_VALUE } from './lua-script.js';

/**
 * extend(KEYS = lock keys, ARGV = [token, ttlMs]) ->
 *    1  token held every key; each lease is now ttlMs
 *    0  some key has no live lease for token and nobody else holds it
 *   -1  some key is held by another owner
 *
 * All or nothing: nothing is extended unless token holds every key. A lease
 * that has ended is never revived.
 */
export const EXTEND_SCRIPT = new LuaScript(
  'extend',
  `${PARSE_LOCK_VALUE}
local token, ttl = ARGV[1], ARGV[2]
local result = 1
for _, key in ipairs(KEYS) do
  local _, state, owner = parse(redis.call('GET', key))
  if state == 'foreign' or (state == ':' and owner ~= token) then
    return -1
  elseif state ~= ':' then
    result = 0
  end
end
if result == 0 then return 0 end
for _, key in ipairs(KEYS) do
  redis.call('PEXPIRE', key, ttl)
end
return 1
`,
);
