/**
 * The acquire part of the batch script (see BATCH_SCRIPT). Arguments per
 * request: keyCount, token, ttlMs, queue (0|1). Answers, per request, in order:
 *        1, fence_1, ..., fence_k   every key granted to token (all or nothing)
 *        0, retryAfterMs, serverUs  refused: the longest competing lease (-1:
 *                                   no expiry) and the server clock
 *
 * Each request is decided on its own, in order.
 *
 * A key already held by the token is granted again with its fence kept and
 * its lease renewed, never shortened, so that a command resent after a
 * reconnect can neither fail its own acquire nor hand out a second fence,
 * and a late attempt with a ticket's token cannot cut the lease of the local
 * waiter its grant went to (that waiter may have extended it already). A new
 * grant's fence is the server clock in microseconds.
 *
 * A refused request marks every key held by another owner (see
 * SCRIPT_PRELUDE), so that its release wakes or grants the waiters.
 *
 * Fair order: a free key whose queue has a live ticket goes to that ticket
 * (published to its client) and the request is refused, unless the first
 * ticket is the caller's own client and the (single-key) request queues:
 * it takes its client's turn. A refused single-key request with queue = 1 puts its
 * client in the queue (keeping its place if it is there already) and sets
 * the client's ticket to this token.
 */
export const ACQUIRE_LUA = `
-- A key the token already holds: its lease becomes ttl unless it is longer.
local function renew_own(key, ttl)
  local left = redis.call('PTTL', key)
  if left >= 0 and left < tonumber(ttl) then redis.call('PEXPIRE', key, ttl) end
end
-- One key: SET NX first (the common, free case costs one write and a look
-- at the queue). Returns the competing lease, or -2 when granted.
local function acquire_one(key, token, ttl, queues)
  local fence, fence_text = now()
  if redis.call('SET', key, fence_text .. ':' .. token, 'NX', 'PX', ttl) then
    local id, ticket = first_ticket(key)
    if id and queues and id == client then
      redis.call('LPOP', key .. ':q')
      redis.call('DEL', key .. ':t:' .. client)
      -- Others still in line: marked, so that the release grants the next.
      if redis.call('LLEN', key .. ':q') > 0 then
        mark(key, fence_text .. ':' .. token)
      end
    elseif id then
      return grant_ticket(key, id, ticket)
    end
    push(1)
    push(fence)
    return -2
  end
  local value = redis.call('GET', key)
  if not value then return 0 end
  local own = fence_of(value, token)
  if own then
    renew_own(key, ttl)
    push(1)
    push(own)
    return -2
  end
  if string.byte(value, 1) ~= 119 then mark(key, value) end
  return redis.call('PTTL', key)
end
-- Several keys: all or nothing, so every key is looked at before any is set.
local function acquire_all(last, token, ttl)
  local wait, own = -2, {}
  for i = first, last do
    local key = KEYS[i]
    local value = redis.call('GET', key)
    if value then
      own[i] = fence_of(value, token)
      if not own[i] then
        local left = redis.call('PTTL', key)
        if left > wait then wait = left end
        if string.byte(value, 1) ~= 119 then mark(key, value) end
      end
    else
      local id, ticket = first_ticket(key)
      if id then
        local lease = grant_ticket(key, id, ticket)
        if lease > wait then wait = lease end
      end
    end
  end
  if wait > -2 then return wait end
  local fence, fence_text = now()
  push(1)
  for i = first, last do
    if own[i] then
      renew_own(KEYS[i], ttl)
      push(own[i])
    else
      redis.call('SET', KEYS[i], fence_text .. ':' .. token, 'PX', ttl)
      push(fence)
    end
  end
  return -2
end
-- A refused single-key request that queues: the client's ticket becomes this
-- token, and the client joins the key's queue (keeping its place if in it).
-- The queue lives as long as the longest ticket in it: when every process
-- in line died and nobody looks at the key again, it runs out with them.
local function queue_up(key, token, ttl)
  redis.call('SET', key .. ':t:' .. client, token .. ':' .. ttl, 'PX', ticket_ttl)
  local queue = key .. ':q'
  if not redis.call('LPOS', queue, client) then
    redis.call('RPUSH', queue, client)
  end
  redis.call('PEXPIRE', queue, ticket_ttl)
end
`;
