import { randomFillSync } from 'node:crypto';

const TOKEN_BYTES = 16; // 128 bits: unguessable by any other client
const POOL_TOKENS = 256;

let pool = Buffer.allocUnsafe(0);
let offset = 0;

/**
 * A random owner token (128 bits, base64url). Random bytes are drawn from the
 * CSPRNG in batches: one system call per 256 tokens keeps acquire cheap.
 */
export function createLockToken(): string {
  if (offset + TOKEN_BYTES > pool.length) {
    pool = randomFillSync(Buffer.allocUnsafe(TOKEN_BYTES * POOL_TOKENS));
    offset = 0;
  }
  const token = pool.toString('base64url', offset, offset + TOKEN_BYTES);
  offset += TOKEN_BYTES;
  return token;
}
