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
 * The value layout shared by every script: a held lock's key stores
 * `<fence>:<token>`, and its expiry is the lease. Scripts recognise the owner
 * by the `:<token>` suffix; anything else in the key counts as another owner.
 * Releasing deletes the key.
 *
 * NOTE: a fence is the Redis server's clock in microseconds at the grant. It
 * fits in 53 bits (exact in a Lua number and in a JavaScript number), and it
 * grows from one holder of a key to the next because a grant always comes
 * later than the previous holder's grant: after its release (which took at
 * least a network round trip) or after its lease ran out. So it needs no
 * counter key, and a Redis restart that loses every key cannot make it go
 * back, as long as the server's clock does not step back.
 */
export const OWNER_SUFFIX = `
local mine = ':' .. ARGV[1]
local function held_by_caller(value)
  return string.sub(value, -#mine) == mine
end
`;
