import type { LockOutcome } from './lock-store.js';

/** Maps the scripts' integer answers (1, 0, -1) to a {@link LockOutcome}. */
export function toLockOutcome(code: number): LockOutcome {
  return code === 1 ? 'ok' : code === 0 ? 'expired' : 'not-owner';
}
