/**
 * The release part of the batch script (see BATCH_SCRIPT). Arguments per
 * request: keyCount, token, or, for a handoff of one key: -1, token,
 * nextToken, ttl. Answers one code per request, in order:
 *    1  token held every key; all released
 *    0  some key had no lease any more (it had expired)
 *   -1  some key is held by another owner (left untouched)
 *   a handoff answers {new holder's fence, 1 if another client is queued
 *   for the key, else 0} instead of 1 (a resent one: the fence alone).
 *
 * A handoff gives the key straight to `nextToken` (a waiter in the same
 * process) with a lease of `ttl` ms and the fence plus one (the engine gives
 * the waiter that fence before the answer comes), keeping the waiting mark:
 * the key is never free, so nobody in line takes it in between. The calling
 * process's own place in line, if it has one, moves to the back: a handoff
 * is a turn of that process, and the processes behind it come first. Run
 * twice, it finds `nextToken` holding the key and answers the same fence.
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
export const RELEASE_LUA = `
local function release(first, count, token)
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
  return result
end
local function pass_on(key, token, next_token, ttl)
  local value = redis.call('GET', key)
  if not value then return 0 end
  local fence = fence_of(value, token)
  if not fence then
    return fence_of(value, next_token) or -1
  end
  local next_fence = fence + 1
  local next_text = string.format('%.0f', next_fence)
  local mark, waiting = '', 0
  if string.byte(value, 1) == 119 then
    mark = 'w'
    local queue = key .. ':q'
    local mine = redis.call('LREM', queue, 1, client)
    -- NOTE: a queue that held only this client was deleted by LREM: pushed
    -- anew, it gets the expiry that queue_up gives every queue.
    if mine > 0 and redis.call('RPUSH', queue, client) == 1 then
      redis.call('PEXPIRE', queue, ticket_ttl)
    end
    if redis.call('LLEN', queue) > mine then waiting = 1 end
  end
  redis.call('SET', key, mark .. next_text .. ':' .. next_token, 'PX', ttl)
  return {next_fence, waiting}
end
`;
