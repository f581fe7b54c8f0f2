/**
 * Base class of every error the lock engine throws, so that callers can tell a
 * lock failure from any other failure with one `instanceof` check.
 */
export class LockError extends Error {
  override name = 'LockError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}
