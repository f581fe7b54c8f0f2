import { LuaScript, SCRIPT_PRELUDE } from './lua-script.js';

/**
 * dequeue(KEYS = [lock key], ARGV = [client, grantPrefix, token]) ->
 *    1  the ticket had already been granted: that grant is handed on
 *    0  the ticket was taken out of the queue (or was not there)
 *
 * A client whose last waiter gave up leaves the queue. If its ticket was
 * granted in the meantime (the grant notice still on its way), the lock is
 * handed on at once, as a release would, instead of sitting idle until its
 * lease runs out.
 */
export const DEQUEUE_SCRIPT = new LuaScript(
  'dequeue',
  `${SCRIPT_PRELUDE}
local key, token = KEYS[1], ARGV[3]
local ticket_key = key .. ':t:' .. client
local ticket = redis.call('GET', ticket_key)
if ticket and string.sub(ticket, 1, #token + 1) == token .. ':' then
  redis.call('DEL', ticket_key)
  redis.call('LREM', key .. ':q', 0, client)
end
local value = redis.call('GET', key)
local fence, fence_text = nil, nil
if value then fence, fence_text = fence_of(value, token) end
if fence then
  hand_over(key, value, fence_text)
  return 1
end
return 0
`,
);
