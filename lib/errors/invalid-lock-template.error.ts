import { LockError } from '../core/errors/lock-error.js';

/**
 * A `@DistributedLock` key template cannot work for the method it decorates
 * (a placeholder names no parameter, or the template is malformed). Thrown
 * when the class is defined, so the application fails at startup.
 */
export class InvalidLockTemplateError extends LockError {
  override name = 'InvalidLockTemplateError';

  constructor(
    message: string,
    /** `ClassName.method` of the decorated method. */
    readonly method: string,
    readonly template: string,
  ) {
    super(message);
  }
}
