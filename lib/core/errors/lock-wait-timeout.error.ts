import { LockNotAcquiredError } from './lock-not-acquired.error.js';

/**
 * The lock stayed held by another owner for the whole wait timeout. It is a
 * kind of {@link LockNotAcquiredError}, so contention handling catches both.
 */
export class LockWaitTimeoutError extends LockNotAcquiredError {
  override name = 'LockWaitTimeoutError';

  constructor(
    keys: readonly string[],
    retryAfterMs: number,
    readonly waitedMs: number,
  ) {
    super(keys, retryAfterMs);
    this.message = `Timed out after ${waitedMs} ms waiting for lock "${keys.join('", "')}"; ${retryAfterMs >= 0 ? `the holder's lease runs ${retryAfterMs} ms more` : 'its key has no expiry'}. Raise waitTimeout or shorten the work done under the lock.`;
  }
}
