import { InvalidLockKeyError } from '../core/errors/invalid-lock-key.error.js';

/**
 * A `@DistributedLock` key could not be built from the arguments of a call
 * (a placeholder resolved to `undefined`, `null` or an object, or a key
 * function returned no usable key). The caller sent a bad value, so the
 * interceptor answers HTTP 400; the method did not run.
 */
export class InvalidLockKeyArgumentError extends InvalidLockKeyError {
  override name = 'InvalidLockKeyArgumentError';

  constructor(
    message: string,
    /** The placeholder (`dto.customerId`), or `undefined` for a key function. */
    readonly placeholder: string | undefined,
    /** `ClassName.method` of the decorated method. */
    readonly method: string,
    value: unknown,
    options?: { cause?: unknown },
  ) {
    super(message, value);
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}
