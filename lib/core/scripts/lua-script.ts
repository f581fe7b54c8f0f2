import { createHash } from 'node:crypto';

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
 * The value layout shared by every script. A held lock's key stores
 * `<fence>:<token>`; a released lock leaves a short-lived tombstone
 * `<fence>.<token>`, so that the next grant's fence still goes up and a
 * replayed release can tell that it already succeeded. The parser below is
 * pasted at the top of each script.
 *
 * NOTE: fences are microsecond timestamps of the Redis server's clock or one
 * more than the previous fence, whichever is larger. They fit in 53 bits
 * (exact in a Lua number and in a JavaScript number) and do not go backwards
 * when the key is lost, for example when Redis restarts without persistence.
 */
export const PARSE_LOCK_VALUE = `
local function parse(v)
  if not v then return nil, nil, nil end
  local fence, state, owner = string.match(v, '^(%d+)([:.])(.*)$')
  if not fence then return 0, 'foreign', v end
  return tonumber(fence), state, owner
end
`;
