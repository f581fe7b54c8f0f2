import {
  LockBackendUnavailableError,
  type AcquireResult,
  type LockOutcome,
  type LockStore,
  type ReleaseListener,
} from '../../lib/index.js';

/**
 * Wraps a store, counts the calls made to it (to check request budgets), and
 * can make the next extends or releases fail as if Redis had not answered.
 */
export class CountingStore implements LockStore {
  readonly calls = { acquire: 0, extend: 0, release: 0, subscribe: 0 };
  /** How many of the next extends fail with LockBackendUnavailableError. */
  failExtend = 0;
  /** How many of the next releases fail with LockBackendUnavailableError. */
  failRelease = 0;

  constructor(readonly inner: LockStore) {}

  acquire(
    keys: readonly string[],
    token: string,
    ttlMs: number,
  ): Promise<AcquireResult> {
    this.calls.acquire++;
    return this.inner.acquire(keys, token, ttlMs);
  }

  async extend(
    keys: readonly string[],
    token: string,
    ttlMs: number,
  ): Promise<LockOutcome> {
    this.calls.extend++;
    if (this.failExtend > 0) {
      this.failExtend--;
      throw new LockBackendUnavailableError('injected: extend got no answer');
    }
    return this.inner.extend(keys, token, ttlMs);
  }

  async release(keys: readonly string[], token: string): Promise<LockOutcome> {
    this.calls.release++;
    if (this.failRelease > 0) {
      this.failRelease--;
      throw new LockBackendUnavailableError('injected: release got no answer');
    }
    return this.inner.release(keys, token);
  }

  subscribe(
    keys: readonly string[],
    listener: ReleaseListener,
  ): Promise<() => void> {
    this.calls.subscribe++;
    return this.inner.subscribe(keys, listener);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
