import { LockError } from '../errors/lock-error.js';

/**
 * Validates a store's `tombstoneTtl`: a whole number of ms, at least 1 (it
 * becomes a Redis `PX`).
 */
export function checkTombstoneTtl(value: number | undefined): number {
  const ttl = value ?? 1000;
  if (!Number.isInteger(ttl) || ttl < 1) {
    throw new LockError(
      `tombstoneTtl must be a whole number of milliseconds of at least 1 (got ${String(value)}).`,
    );
  }
  return ttl;
}
