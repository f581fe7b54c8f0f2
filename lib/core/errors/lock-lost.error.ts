import { LockError } from './lock-error.js';

/**
 * Why a lock is no longer held: its lease ran out (`expired`), another owner
 * holds it now (`not-owner`), renewal stopped at the hold cap (`max-hold`),
 * the engine released it at shutdown (`closed`), or its holder released it
 * and then asked to extend it (`released`: a mistake in the calling code,
 * never a reason for the signal to abort).
 */
export type LockLostReason =
  'expired' | 'not-owner' | 'max-hold' | 'closed' | 'released';

/**
 * The lock was lost while its holder still relied on it. Work done after this
 * point is no longer protected: stop, and let the fencing token protect any
 * write that is already in flight.
 */
export class LockLostError extends LockError {
  override name = 'LockLostError';

  constructor(
    readonly keys: readonly string[],
    readonly reason: LockLostReason,
    options?: { cause?: unknown },
  ) {
    super(
      `Lock "${keys.join('", "')}" was lost (${describe(reason)}).`,
      options,
    );
  }
}

function describe(reason: LockLostReason): string {
  switch (reason) {
    case 'expired':
      return 'its lease expired before it was renewed or released; use a longer ttl or keep renewal on';
    case 'not-owner':
      return 'another owner holds it now; its lease had expired and was taken over';
    case 'max-hold':
      return 'it was held longer than maxHold, so renewal stopped and the lease ran out';
    case 'closed':
      return 'the lock manager was closed';
    case 'released':
      return 'its holder released it; a released lock cannot be extended';
  }
}
