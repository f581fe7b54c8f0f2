import { LockError } from './lock-error.js';

/**
 * The lock manager is closed, or closing (the application is shutting
 * down): no new lock can be taken. The Nest layer answers it with 503, so
 * that a client retries on another instance.
 */
export class LockManagerClosedError extends LockError {
  override name = 'LockManagerClosedError';

  constructor() {
    super(
      'The lock manager is closed (the application is shutting down); no lock can be taken.',
    );
  }
}
