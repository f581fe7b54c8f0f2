import { ACQUIRE_LUA } from './acquire.script.js';
import { LuaScript, SCRIPT_PRELUDE } from './lua-script.js';
import { RELEASE_LUA } from './release.script.js';

/**
 * batch(KEYS = the keys of every request in order, releases first,
 *       ARGV = [client, grantPrefix, ticketTtlMs, releases, acquires,
 *               then each release's arguments (see RELEASE_LUA),
 *               then each acquire's arguments (see ACQUIRE_LUA)])
 *   -> one flat list: each release's code in order, then each acquire's
 *      answer in order; a request that failed (a command error such as
 *      WRONGTYPE or OOM) answers that error instead, in its place, and the
 *      other requests go on (the writes it made before the error stay, as
 *      Redis never undoes a script's writes)
 *
 * The store sends every release, handoff and acquire of one event-loop turn
 * in one call (a large turn in two, see RedisLockStore): one round trip, one
 * script run and one socket write for the whole turn. Requests are decided
 * on their own, in order, releases before acquires: an acquire in the same
 * turn as the release of its key finds the key as that release left it.
 */
export const BATCH_SCRIPT = new LuaScript(
  'batch',
  `${SCRIPT_PRELUDE}
local ticket_ttl = ARGV[3]
local reply, size, first, arg = {}, 0, 1, 6
local function push(value)
  size = size + 1
  reply[size] = value
end
${RELEASE_LUA}${ACQUIRE_LUA}
-- One request's failure (a command error such as WRONGTYPE or OOM) is its
-- own: its answer becomes that error, and the other requests go on.
local function failed(mark, problem)
  for i = mark + 1, size do reply[i] = nil end
  size = mark
  local message = type(problem) == 'table' and problem.err or tostring(problem)
  if not string.find(message, '^%u[%u_]* ') then message = 'ERR ' .. message end
  push({err = message})
end
local function release_request(count, token)
  if count < 0 then
    push(pass_on(KEYS[first], token, ARGV[arg], ARGV[arg + 1]))
  else
    push(release(first, count, token))
  end
end
local function acquire_request(count, token, ttl, queues)
  local wait
  if count == 1 then
    wait = acquire_one(KEYS[first], token, ttl, queues)
  else
    wait = acquire_all(first + count - 1, token, ttl)
  end
  if wait > -2 then
    push(0)
    push(wait)
    push(now())
    if queues then queue_up(KEYS[first], token, ttl) end
  end
end
for _ = 1, tonumber(ARGV[4]) do
  local count, token = tonumber(ARGV[arg]), ARGV[arg + 1]
  arg = arg + 2
  local mark = size
  local ok, problem = pcall(release_request, count, token)
  if not ok then failed(mark, problem) end
  if count < 0 then arg, count = arg + 2, 1 end
  first = first + count
end
for _ = 1, tonumber(ARGV[5]) do
  local count, token, ttl = tonumber(ARGV[arg]), ARGV[arg + 1], ARGV[arg + 2]
  local queues = count == 1 and ARGV[arg + 3] == '1'
  arg = arg + 4
  local mark = size
  local ok, problem = pcall(acquire_request, count, token, ttl, queues)
  if not ok then failed(mark, problem) end
  first = first + count
end
return reply
`,
);
