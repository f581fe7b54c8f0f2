import type {
  AcquireOptions,
  AcquireResult,
  GrantListener,
  GrantNotice,
  HandoffResult,
  LockOutcome,
  QueueingLockStore,
  ReleaseListener,
} from './lock-store.js';
import { GRANT_LEASE_MS, TICKET_TTL_MS } from './queue-timing.js';

interface Entry {
  readonly fence: number;
  readonly token: string;
  /** `performance.now()` at which the lease ends. */
  expiresAt: number;
  /** Someone was refused while it was held: its release serves the waiters. */
  marked?: boolean;
}

interface Ticket {
  readonly token: string;
  ttl: number;
  /** `performance.now()` at which the place is given up unless renewed. */
  expiresAt: number;
}

const SWEEP_EVERY = 1024;

/**
 * A lock store inside one process, with the same semantics as the Redis store:
 * leases that expire, owner tokens, fences that only go up, all-or-nothing
 * keys, a fair wait queue per key, release notices. Use it in unit tests of
 * code that takes locks, and for a single process that needs no Redis. It
 * does not coordinate processes.
 *
 * NOTE: Redis keeps one queue place per client (process); here a place is
 * per ticket token. The engine uses one ticket per key at a time, so both
 * look the same from above.
 */
export class MemoryLockStore implements QueueingLockStore {
  private readonly entries = new Map<string, Entry>();
  private readonly queues = new Map<string, Ticket[]>();
  private readonly listeners = new Map<string, Set<ReleaseListener>>();
  private readonly grantListeners = new Set<GrantListener>();
  private lastFence = 0;
  private operations = 0;

  async acquire(
    keys: readonly string[],
    token: string,
    ttlMs: number,
    options?: AcquireOptions,
  ): Promise<AcquireResult> {
    const now = this.tick();
    const queues = options?.queue === true && keys.length === 1;
    let retryAfterMs = -2;
    const turns = new Set<string>();
    for (const key of keys) {
      const entry = this.live(key, now);
      if (entry) {
        if (entry.token !== token) {
          retryAfterMs = Math.max(
            retryAfterMs,
            Math.ceil(entry.expiresAt - now),
          );
          entry.marked = true;
        }
        continue;
      }
      const ticket = this.firstTicket(key, now);
      if (ticket && queues && ticket.token === token) turns.add(key);
      else if (ticket) {
        retryAfterMs = Math.max(retryAfterMs, this.grantTicket(key, now));
      }
    }
    if (retryAfterMs > -2) {
      if (queues) this.enqueue(keys[0], token, ttlMs, now);
      return { acquired: false, retryAfterMs, serverTime: clockMicros() };
    }
    const fresh = this.nextFence();
    const fences = keys.map((key) => {
      const entry = this.live(key, now);
      if (entry) {
        // NOTE: renewed, never shortened (as in the Redis script).
        entry.expiresAt = Math.max(entry.expiresAt, now + ttlMs);
        return entry.fence;
      }
      // NOTE: a request taking its own turn leaves the rest of the line
      // waiting: marked, so that its release grants the next.
      const line = turns.has(key) ? this.queues.get(key)! : undefined;
      line?.shift();
      this.entries.set(key, {
        fence: fresh,
        token,
        expiresAt: now + ttlMs,
        marked: line !== undefined && line.length > 0,
      });
      if (line) this.dropIfEmpty(key, line);
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
    for (const key of keys) {
      const entry = this.live(key, now);
      if (entry?.token === token) {
        this.handOver(key, entry, now);
      } else if (entry) {
        outcome = 'not-owner';
      } else if (outcome === 'ok') {
        outcome = 'expired';
      }
    }
    return outcome;
  }

  async handOff(
    key: string,
    token: string,
    nextToken: string,
    ttlMs: number,
  ): Promise<HandoffResult> {
    const now = this.tick();
    const entry = this.live(key, now);
    if (!entry) return { outcome: 'expired' };
    if (entry.token === nextToken) return { outcome: 'ok', fence: entry.fence };
    if (entry.token !== token) return { outcome: 'not-owner' };
    // NOTE: every place in this store's queues belongs to its one process,
    // so "this process's place goes to the back" changes no order here.
    // NOTE: the fence plus one, as the engine predicts (see handOff in
    // QueueingLockStore); later grants of any key count on from there.
    const fence = entry.fence + 1;
    this.lastFence = Math.max(this.lastFence, fence);
    this.entries.set(key, {
      fence,
      token: nextToken,
      expiresAt: now + ttlMs,
      marked: entry.marked,
    });
    return { outcome: 'ok', fence };
  }

  async leaveQueue(key: string, token: string): Promise<void> {
    const now = this.tick();
    const queue = this.queues.get(key);
    const index = queue?.findIndex((ticket) => ticket.token === token) ?? -1;
    if (index >= 0) {
      queue!.splice(index, 1);
      this.dropIfEmpty(key, queue!);
    }
    const entry = this.live(key, now);
    if (entry?.token === token) this.handOver(key, entry, now);
  }

  async onGrant(listener: GrantListener): Promise<() => void> {
    this.grantListeners.add(listener);
    return () => {
      this.grantListeners.delete(listener);
    };
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
    this.queues.clear();
    this.listeners.clear();
    this.grantListeners.clear();
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

  /**
   * Frees a released key. If someone waited for it (marked), gives it to the
   * first live ticket, or says so to the notice listeners.
   */
  private handOver(key: string, entry: Entry, now: number): void {
    if (!entry.marked) {
      this.entries.delete(key);
      return;
    }
    const fence = entry.fence;
    if (this.firstTicket(key, now)) {
      this.grantTicket(key, now);
      return;
    }
    this.entries.delete(key);
    // NOTE: notices go out after the reply, as Redis pub/sub messages do, so
    // a waiter never runs inside the releaser's call.
    const set = this.listeners.get(key);
    if (set)
      queueMicrotask(() => {
        for (const listener of [...set]) listener(key, String(fence));
      });
  }

  /** Grants `key` to its first ticket (which must be live); answers the lease. */
  private grantTicket(key: string, now: number): number {
    const queue = this.queues.get(key)!;
    const ticket = queue.shift()!;
    this.dropIfEmpty(key, queue);
    const fence = this.nextFence();
    // NOTE: a short first lease, as in the Redis scripts (GRANT_LEASE_MS).
    const lease = Math.min(ticket.ttl, GRANT_LEASE_MS);
    this.entries.set(key, {
      fence,
      token: ticket.token,
      expiresAt: now + lease,
      marked: true,
    });
    const grant: GrantNotice = {
      key,
      token: ticket.token,
      fence,
      ttl: lease,
      grantedAt: now,
    };
    queueMicrotask(() => {
      for (const listener of [...this.grantListeners]) listener(grant);
    });
    return lease;
  }

  /**
   * Forgets the wait queue of a key once nobody is in it: a key whose last
   * waiter gave up or was granted it may never be used again.
   */
  private dropIfEmpty(key: string, queue: Ticket[]): void {
    if (queue.length === 0 && this.queues.get(key) === queue)
      this.queues.delete(key);
  }

  /** The first ticket in line that is still live; dead ones are dropped. */
  private firstTicket(key: string, now: number): Ticket | undefined {
    const queue = this.queues.get(key);
    if (!queue) return undefined;
    while (queue.length > 0 && queue[0].expiresAt <= now) queue.shift();
    this.dropIfEmpty(key, queue);
    return queue[0];
  }

  private enqueue(key: string, token: string, ttl: number, now: number): void {
    let queue = this.queues.get(key);
    if (!queue) this.queues.set(key, (queue = []));
    const ticket = queue.find((candidate) => candidate.token === token);
    if (ticket) {
      ticket.ttl = ttl;
      ticket.expiresAt = now + TICKET_TTL_MS;
    } else queue.push({ token, ttl, expiresAt: now + TICKET_TTL_MS });
  }

  /**
   * NOTE: like the Redis scripts, a fence is the clock in microseconds; one
   * counter per store keeps it growing even for grants in the same microsecond.
   */
  private nextFence(): number {
    return (this.lastFence = Math.max(this.lastFence + 1, clockMicros()));
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
