import { LuaScript, SCRIPT_PRELUDE } from './lua-script.js';

/**
 * acquire(KEYS = the keys of every request in order,
 *         ARGV = [client, grantPrefix, ticketTtlMs, n,
 *                 then per request: keyCount, token, ttlMs, queue (0|1)])
 *   -> per request, in order:
 *        1, fence_1, ..., fence_k   every key granted to token (all or nothing)
 *        0, retryAfterMs, serverUs  refused: the longest competing lease (-1:
 *                                   no expiry) and the server clock
 *
 * One call carries a batch of independent requests (the store merges the
 * attempts of one tick); each is decided on its own, in order.
 *
 * A key already held by the token is granted again with its lease renewed and
 * its fence kept, so that a command resent after a reconnect can neither fail
 * its own acquire nor hand out a second fence. A new grant's fence is the
 * server clock in microseconds.
 *
 * Fair order: a free key whose queue has a live ticket goes to that ticket
 * (published to its client) and the request is refused, unless the first
 * ticket is the caller's own client and the request queues (it takes its
 * client's turn). A refused single-key request with queue = 1 puts its
 * client in the queue (keeping its place if it is there already) and sets
 * the client's ticket to this token.
 */
export const ACQUIRE_SCRIPT = new LuaScript(
  'acquire',
  `${SCRIPT_PRELUDE}
local ticket_ttl = ARGV[3]
local reply, first, arg = {}, 1, 5
for _ = 1, tonumber(ARGV[4]) do
  local count, token, ttl = tonumber(ARGV[arg]), ARGV[arg + 1], ARGV[arg + 2]
  local queues = ARGV[arg + 3] == '1'
  arg = arg + 4
  local last = first + count - 1
  local wait, own, turn = -2, {}, {}
  for i = first, last do
    local key = KEYS[i]
    local value = redis.call('GET', key)
    if value then
      own[i] = fence_of(value, token)
      if not own[i] then
        local left = redis.call('PTTL', key)
        if left > wait then wait = left end
      end
    else
      local id, ticket = first_ticket(key)
      if id and queues and id == client then
        turn[i] = true
      elseif id then
        local lease = grant_ticket(key, id, ticket)
        if lease > wait then wait = lease end
      end
    end
  end
  if wait > -2 then
    reply[#reply + 1] = 0
    reply[#reply + 1] = wait
    reply[#reply + 1] = now()
    if queues and count == 1 then
      local key = KEYS[first]
      redis.call('SET', key .. ':t:' .. client, token .. ':' .. ttl, 'PX', ticket_ttl)
      if not redis.call('LPOS', key .. ':q', client) then
        redis.call('RPUSH', key .. ':q', client)
      end
    end
  else
    local fence = string.format('%.0f', now())
    reply[#reply + 1] = 1
    for i = first, last do
      local key = KEYS[i]
      if own[i] then
        redis.call('PEXPIRE', key, ttl)
        reply[#reply + 1] = own[i]
      else
        if turn[i] then
          redis.call('LPOP', key .. ':q')
          redis.call('DEL', key .. ':t:' .. client)
        end
        redis.call('SET', key, fence .. ':' .. token, 'PX', ttl)
        reply[#reply + 1] = now()
      end
    end
  end
  first = last + 1
end
return reply
`,
);
