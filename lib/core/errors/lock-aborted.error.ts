import { LockError } from './lock-error.js';

/** The caller's `AbortSignal` fired while it waited for a lock. */
export class LockAbortedError extends LockError {
  override name = 'LockAbortedError';

  constructor(
    readonly keys: readonly string[],
    options?: { cause?: unknown },
  ) {
    super(
      `Waiting for lock "${keys.join('", "')}" was aborted by the caller.`,
      options,
    );
  }
}
