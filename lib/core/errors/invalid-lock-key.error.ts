import { LockError } from './lock-error.js';

/**
 * A lock key, or a part of one, is not a usable value: only non-empty
 * strings, finite numbers and bigints can name a lock, so that `undefined` or
 * an object never collapses many resources onto one key.
 */
export class InvalidLockKeyError extends LockError {
  override name = 'InvalidLockKeyError';

  constructor(
    message: string,
    readonly value?: unknown,
  ) {
    super(message);
  }
}
