import type {
  AcquireResult,
  LockOutcome,
  LockStore,
  ReleaseListener,
} from '../../lib/index.js';

/** Wraps a store and counts the calls made to it, to check request budgets. */
export class CountingStore implements LockStore {
  readonly calls = { acquire: 0, extend: 0, release: 0, subscribe: 0 };

  constructor(private readonly inner: LockStore) {}

  acquire(
    keys: readonly string[],
    token: string,
    ttlMs: number,
  ): Promise<AcquireResult> {
    this.calls.acquire++;
    return this.inner.acquire(keys, token, ttlMs);
  }

  extend(
    keys: readonly string[],
    token: string,
    ttlMs: number,
  ): Promise<LockOutcome> {
    this.calls.extend++;
    return this.inner.extend(keys, token, ttlMs);
  }

  release(keys: readonly string[], token: string): Promise<LockOutcome> {
    this.calls.release++;
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
