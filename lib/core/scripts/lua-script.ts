import { createHash } from 'node:crypto';
import { GRANT_LEASE_MS } from '../stores/queue-timing.js';

/**
 * A named Lua script with its SHA-1, computed once. Stores call scripts by
 * SHA (EVALSHA) and send the source only when the server answers NOSCRIPT
 * (first use, or after a restart flushed the script cache).
 */
export class LuaScript {
  readonly sha: string;

  constructor(
    readonly name: string,
    readonly source: string,
  ) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }
}

/**
 * The key layout and helpers shared by every script.
 *
 * - `<key>` = `<fence>:<token>` while held; its expiry is the lease. The owner
 *   is recognised by the `:<token>` suffix; anything else in the key counts as
 *   another owner. A refused attempt marks the value `w<fence>:<token>`
 *   (someone waits): only a marked key's release looks at the queue and
 *   publishes a notice, so an uncontended release is a GET and a DEL.
 * - `<key>:q` = the wait queue: a list of client ids (one per process that
 *   waits), first come first served. It expires `ticketTtl` ms after the
 *   last ticket was set, so it never outlives every ticket in it.
 * - `<key>:t:<client>` = that client's ticket, `<token>:<ttl>`: the token the
 *   lock is granted to when the client's turn comes. It lives `ticketTtl` ms
 *   and is renewed by each new attempt, so a dead process's place is skipped.
 *
 * A grant to a ticket starts a lease of the ticket's ttl, at most
 * GRANT_LEASE_MS (the process renews it if it is alive: a ticket of a process
 * that just died blocks the key that long only), and is published on
 * `<grant channel prefix><client>` as `<fence>:<token>:<lease>:<key>`; a release that hands the key to nobody publishes
 * the released fence on `<key>:released` (for waiters that do not queue).
 * All of a lock's keys share its `{hash tag}`, so they live in one slot.
 *
 * NOTE: a fence is the Redis server's clock in microseconds at the grant. It
 * fits in 53 bits (exact in a Lua number and in a JavaScript number), and it
 * grows from one holder of a key to the next because a grant always comes
 * later than the previous holder's grant: after its release (which took at
 * least a network round trip) or after its lease ran out. So it needs no
 * counter key, and a Redis restart that loses every key cannot make it go
 * back, as long as the server's clock does not step back.
 */
export const SCRIPT_PRELUDE = `
local client, grant_prefix = ARGV[1], ARGV[2]
local now_us, now_text
local function now()
  if not now_us then
    local time = redis.call('TIME')
    now_us = tonumber(time[1]) * 1000000 + tonumber(time[2])
    now_text = string.format('%.0f', now_us)
  end
  return now_us, now_text
end
local function fence_of(value, token)
  if string.sub(value, -#token - 1) == ':' .. token then
    local first = string.byte(value, 1) == 119 and 2 or 1
    local text = string.sub(value, first, #value - #token - 1)
    return tonumber(text), text
  end
  return nil
end
local function mark(key, value)
  if string.find(value, '^%d+:') then
    redis.call('SET', key, 'w' .. value, 'KEEPTTL')
  end
end
local function first_ticket(key)
  local queue = key .. ':q'
  while true do
    local id = redis.call('LINDEX', queue, 0)
    if not id then return nil end
    local ticket = redis.call('GET', key .. ':t:' .. id)
    if ticket then return id, ticket end
    redis.call('LPOP', queue)
  end
end
local function grant_ticket(key, id, ticket)
  redis.call('LPOP', key .. ':q')
  redis.call('DEL', key .. ':t:' .. id)
  local sep = string.find(ticket, ':', 1, true)
  local token = string.sub(ticket, 1, sep - 1)
  local lease = math.min(tonumber(string.sub(ticket, sep + 1)), ${GRANT_LEASE_MS})
  local _, fence = now()
  redis.call('SET', key, 'w' .. fence .. ':' .. token, 'PX', lease)
  redis.call('PUBLISH', grant_prefix .. id, fence .. ':' .. token .. ':' .. lease .. ':' .. key)
  return lease
end
local function hand_over(key, value, fence)
  if string.byte(value, 1) ~= 119 then
    redis.call('DEL', key)
    return
  end
  local id, ticket = first_ticket(key)
  if id then
    grant_ticket(key, id, ticket)
  else
    redis.call('DEL', key)
    redis.call('PUBLISH', key .. ':released', fence)
  end
end
`;
