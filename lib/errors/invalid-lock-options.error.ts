import { LockError } from '../core/errors/lock-error.js';

/** An option of `DistributedLockModule` or `@DistributedLock` is invalid; `option` names it. */
export class InvalidLockOptionsError extends LockError {
  override name = 'InvalidLockOptionsError';

  constructor(
    message: string,
    /** Path of the bad option, e.g. `defaults.ttl`. */
    readonly option: string,
  ) {
    super(message);
  }
}
