import { LuaScript } from './lua-script.js';

/**
 * extend(KEYS = lock keys, ARGV = [token, ttlMs]) ->
 *    1  token held every key; each lease is now ttlMs
 *    0  some key has no lease any more and nobody else holds it
 *   -1  some key is held by another owner
 *
 * All or nothing: nothing is extended unless token holds every key. A lease
 * that has ended is never revived. (Key layout: see SCRIPT_PRELUDE.)
 */
export const EXTEND_SCRIPT = new LuaScript(
  'extend',
  `
local mine = ':' .. ARGV[1]
local result = 1
for _, key in ipairs(KEYS) do
  local value = redis.call('GET', key)
  if value and string.sub(value, -#mine) ~= mine then return -1 end
  if not value then result = 0 end
end
if result == 0 then return 0 end
for _, key in ipairs(KEYS) do
  redis.call('PEXPIRE', key, ARGV[2])
end
return 1
`,
);
