import { LockError } from './lock-error.js';

/**
 * Another owner holds the lock (contention). `retryAfterMs` is how long the
 * current holder's lease still runs, as Redis reported it: a caller that
 * retries sooner can only succeed if the holder releases early. It is -1 when
 * the key has no expiry (something else wrote it).
 */
export class LockNotAcquiredError extends LockError {
  override name = 'LockNotAcquiredError';

  constructor(
    readonly keys: readonly string[],
    readonly retryAfterMs: number,
  ) {
    super(
      `Lock "${keys.join('", "')}" is held by another owner; ${retryAfterMs >= 0 ? `it expires in ${retryAfterMs} ms unless renewed` : 'its key has no expiry'}. Retry later or wait for it (acquire with a waitTimeout).`,
    );
  }
}
