/**
 * With a quorum store, fences (and release notice ids) come from each
 * master's own clock, so they only grow while the masters' clocks agree. A
 * lock released in this process must still wake the next local waiter even
 * when its fence is not larger than a notice seen before (a master whose
 * clock runs ahead announced an earlier release, then was too slow to count
 * in the next grant's fence): otherwise that waiter sleeps until the
 * released lock's ttl would have ended, past its own waitTimeout.
 */
import {
  LockManager,
  MemoryLockStore,
  RedlockStore,
  type AcquireResult,
  type LockOutcome,
  type LockStore,
  type ReleaseListener,
} from '../../lib/index.js';

/** A master with its clock `offset` µs ahead, whose acquires can be slowed down. */
class SkewedMaster implements LockStore {
  readonly inner = new MemoryLockStore();
  delayMs = 0;
  constructor(private readonly offset: number) {}

  async acquire(
    keys: readonly string[],
    token: string,
    ttlMs: number,
  ): Promise<AcquireResult> {
    const result = await this.inner.acquire(keys, token, ttlMs);
    if (this.delayMs > 0)
      await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    return result.acquired
      ? { ...result, fences: result.fences.map((f) => f + this.offset) }
      : result;
  }

  extend(keys: readonly string[], token: string, ttlMs: number) {
    return this.inner.extend(keys, token, ttlMs);
  }

  release(keys: readonly string[], token: string): Promise<LockOutcome> {
    return this.inner.release(keys, token);
  }

  subscribe(keys: readonly string[], listener: ReleaseListener) {
    return this.inner.subscribe(keys, (key, id) =>
      listener(key, String(Number(id) + this.offset)),
    );
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

it('a lock released in this process wakes the next local waiter, whatever its fence', async () => {
  // master 2's clock runs 5 s ahead of the others
  const masters = [
    new SkewedMaster(0),
    new SkewedMaster(0),
    new SkewedMaster(5_000_000),
  ];
  const locks = new LockManager({ store: new RedlockStore({ masters }) });
  try {
    // the first holder's fence is master 2's (the largest)
    const first = await locks.acquire('k', { ttl: 20_000 });
    const waiters = [0, 1].map((index) =>
      locks
        .acquire('k', { ttl: 20_000, waitTimeout: 4000 })
        .then((lock) => ({ index, lock })),
    );
    await new Promise((resolve) => setTimeout(resolve, 100));
    // master 2 becomes slow: it grants, but too late to count in a fence
    masters[2].delayMs = 50;
    await first.release();
    const next = await Promise.race(waiters);
    expect(next.lock.fence).toBeLessThan(first.fence);
    await next.lock.release();
    // the key is free: the other waiter must get it long before its wait ends
    const last = (await waiters[1 - next.index]).lock;
    expect(last.isHeld).toBe(true);
    await last.release();
  } finally {
    await locks.close();
  }
}, 20_000);
