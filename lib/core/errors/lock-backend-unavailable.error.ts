import { LockError } from './lock-error.js';

/**
 * The lock store (Redis) did not answer in time or refused the connection.
 * Nothing is known to be held; the caller may retry once the store is back.
 */
export class LockBackendUnavailableError extends LockError {
  override name = 'LockBackendUnavailableError';

  constructor(detail: string, options?: { cause?: unknown }) {
    super(
      `The lock store is unavailable: ${detail}. Check that Redis is reachable; the operation was not applied or its outcome is unknown.`,
      options,
    );
  }
}
