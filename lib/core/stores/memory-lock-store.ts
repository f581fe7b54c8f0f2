import type {
  AcquireResult,
  LockOutcome,
  LockStore,
  ReleaseListener,
} from './lock-store.js';

interface Entry {
  readonly fence: number;
  readonly token: string;
  /** `performance.now()` at which the lease ends. */
  expiresAt: number;
}

const SWEEP_EVERY = 1024;

/**
 * A lock store inside one process, with the same semantics as the Redis store:
 * leases that expire, owner tokens, fences that only go up, all-or-nothing
 * keys, release notices. Use it in unit tests of code that takes locks, and
 * for a single process that needs no Redis. It does not coordinate processes.
 */
export class MemoryLockStore implements LockStore {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Map<string, Set<ReleaseListener>>();
  private lastFence = 0;
  private operations = 0;

  async acquire(
    keys: readonly string[],
    token: string,
    ttlMs: number,
  ): Promise<AcquireResult> {
    const now = this.tick();
    let retryAfterMs = -2;
    for (const key of keys) {
      const entry = this.live(key, now);
      if (entry && entry.token !== token)
        retryAfterMs = Math.max(retryAfterMs, Math.ceil(entry.expiresAt - now));
    }
    if (retryAfterMs > -2) return { acquired: false, retryAfterMs };
    // NOTE: like the Redis scripts, a fence is the clock in microseconds; one
    // counter per store keeps it growing even for grants in the same microsecond.
    const fresh = (this.lastFence = Math.max(
      this.lastFence + 1,
      clockMicros(),
    ));
    const fences = keys.map((key) => {
      const entry = this.live(key, now);
      if (entry) {
        entry.expiresAt = now + ttlMs;
        return entry.fence;
      }
      this.entries.set(key, { fence: fresh, token, expiresAt: now + ttlMs });
      return fresh;
    });
    return { acquired: true, fences };
  }

  async extend(
    keys: readonly string[],
    token: string,
    ttlMs: number,
  ): Promise<LockOutcome> {
    const now = this.tick();
    let outcome: LockOutcome = 'ok';
    for (const key of keys) {
      const entry = this.live(key, now);
      if (entry && entry.token !== token) return 'not-owner';
      if (!entry) outcome = 'expired';
    }
    if (outcome === 'ok')
      for (const key of keys) this.entries.get(key)!.expiresAt = now + ttlMs;
    return outcome;
  }

  async release(keys: readonly string[], token: string): Promise<LockOutcome> {
    const now = this.tick();
    let outcome: LockOutcome = 'ok';
    const released: Array<[string, number]> = [];
    for (const key of keys) {
      const entry = this.live(key, now);
      if (entry?.token === token) {
        this.entries.delete(key);
        released.push([key, entry.fence]);
      } else if (entry) {
        outcome = 'not-owner';
      } else if (outcome === 'ok') {
        outcome = 'expired';
      }
    }
    // NOTE: notices go out after the reply, as Redis pub/sub messages do, so
    // a waiter never runs inside the releaser's call.
    if (released.length > 0) queueMicrotask(() => this.notify(released));
    return outcome;
  }

  async subscribe(
    keys: readonly string[],
    listener: ReleaseListener,
  ): Promise<() => void> {
    for (const key of keys) {
      let set = this.listeners.get(key);
      if (!set) this.listeners.set(key, (set = new Set()));
      set.add(listener);
    }
    return () => {
      for (const key of keys) {
        const set = this.listeners.get(key);
        if (set?.delete(listener) && set.size === 0) this.listeners.delete(key);
      }
    };
  }

  async close(): Promise<void> {
    this.entries.clear();
    this.listeners.clear();
  }

  /** Number of keys held right now (for tests and leak checks). */
  get size(): number {
    this.sweep(performance.now());
    return this.entries.size;
  }

  /** Drops a key as if its lease had been lost (a Redis restart). For tests. */
  forget(key: string): void {
    this.entries.delete(key);
  }

  private notify(released: ReadonlyArray<[string, number]>): void {
    for (const [key, fence] of released) {
      const set = this.listeners.get(key);
      if (set) for (const listener of [...set]) listener(key, String(fence));
    }
  }

  private live(key: string, now: number): Entry | undefined {
    const entry = this.entries.get(key);
    if (entry && entry.expiresAt <= now) {
      this.entries.delete(key);
      return undefined;
    }
    return entry;
  }

  private tick(): number {
    const now = performance.now();
    if (++this.operations % SWEEP_EVERY === 0) this.sweep(now);
    return now;
  }

  private sweep(now: number): void {
    for (const [key, entry] of this.entries)
      if (entry.expiresAt <= now) this.entries.delete(key);
  }
}

/** Wall-clock microseconds, the same floor the Redis scripts use for fences. */
function clockMicros(): number {
  return Math.floor((performance.timeOrigin + performance.now()) * 1000);
}
