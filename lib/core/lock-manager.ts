import { AsyncLocalStorage } from 'node:async_hooks';
import { backoffDelay } from './backoff.js';
import { LockAbortedError } from './errors/lock-aborted.error.js';
import { LockBackendUnavailableError } from './errors/lock-backend-unavailable.error.js';
import { LockError } from './errors/lock-error.js';
import { LockNotAcquiredError } from './errors/lock-not-acquired.error.js';
import { Lock, type LockGrant, type LockRuntime } from './lock.js';
import { LockKeyspace } from './lock-key.js';
import {
  DEFAULT_LOCK_OPTIONS,
  MAX_TIMER_DELAY,
  type LockManagerOptions,
  type LockOptions,
  type ResolvedLockOptions,
} from './lock-options.js';
import { createLockToken } from './lock-token.js';
import { LockWaiter } from './lock-waiter.js';
import type { AcquireResult, LockStore } from './stores/lock-store.js';

/** One key or several keys taken together (all or nothing). */
export type LockKeys = string | readonly string[];

/** The locks that the current async call chain holds. */
interface LockContext {
  readonly locks: ReadonlyMap<string, Lock>;
  readonly current: Lock;
}

/** A lock request, normalized once. */
interface LockRequest {
  readonly keys: readonly string[];
  readonly storeKeys: readonly string[];
  readonly options: ResolvedLockOptions;
}

/** The waiters of one store key in this process. */
interface KeyQueue {
  readonly key: string;
  /** Single-key waiters, first come first served: only the head asks the store. */
  readonly waiters: LockWaiter[];
  /** Multi-key waiters that include this key: each asks on every notice. */
  readonly others: Set<LockWaiter>;
  /** Highest notice id seen: notices come twice (locally and over pub/sub). */
  lastNotice: number;
  /** Grants to waiters of this queue so far. */
  grants: number;
  /** A local release that woke the head before Redis answered it. */
  earlyWake?: { readonly fence: number; readonly grants: number };
  subscription?: Promise<() => void>;
}

/**
 * The lock engine: acquire, try, or run a function under a lock, on any
 * {@link LockStore}. Framework-free; one instance per process and store.
 *
 * Waiting is notice-driven: a release wakes the first waiter of its key in
 * each process (one shared subscriber connection, multiplexed by key); a
 * waiter also retries when the holder's lease would end (expiry sends no
 * notice) or after an exponential backoff with full jitter, whichever comes
 * first. In a process, waiters of a key are served first come first served
 * and only the first one asks the store, so a release costs one attempt per
 * waiting process, not per waiter.
 *
 * @example
 * const locks = new LockManager({ store: new RedisLockStore({ url: 'redis://127.0.0.1:6379' }) });
 * await locks.using(lockKey('order', orderId), async (lock) => {
 *   await payOrder(orderId, { fence: lock.fence, signal: lock.signal });
 * });
 */
export class LockManager {
  readonly store: LockStore;
  private readonly keyspace: LockKeyspace;
  private readonly defaults: ResolvedLockOptions;
  private readonly driftFactor: number;
  private readonly context = new AsyncLocalStorage<LockContext>();
  private readonly queues = new Map<string, KeyQueue>();
  private readonly held = new Set<Lock>();
  private readonly resolved = new WeakMap<object, ResolvedLockOptions>();
  private readonly resolvedRenewing = new WeakMap<
    object,
    ResolvedLockOptions
  >();
  /** Fast-path attempts under way in this process, per single store key. */
  private readonly inFlight = new Map<string, number>();
  private readonly waiting = new Set<LockWaiter>();
  private readonly runtime: LockRuntime;
  private closed = false;

  constructor(options: LockManagerOptions) {
    if (!options?.store)
      throw new LockError(
        'LockManager needs a store (RedisLockStore, MemoryLockStore, ...).',
      );
    this.store = options.store;
    this.keyspace = new LockKeyspace(
      options.prefix ?? 'lock:',
      options.maxKeyLength ?? 256,
    );
    this.driftFactor = options.driftFactor ?? 0.01;
    const { retry, ...builtIn } = DEFAULT_LOCK_OPTIONS;
    this.defaults = resolveOptions(
      { ...builtIn, ...retry },
      options.defaults ?? {},
      'defaults',
    );
    this.runtime = {
      store: this.store,
      validity: (ttl, startedAt, reported) =>
        startedAt + (reported ?? ttl) - (ttl * this.driftFactor + 2),
      releasing: (lock) => this.onReleasing(lock),
      released: (lock, freed) => this.onReleased(lock, freed),
    };
  }

  /**
   * Takes the lock, waiting up to `waitTimeout` while another owner holds it.
   * Rejects with {@link LockWaitTimeoutError} (a {@link LockNotAcquiredError}),
   * {@link LockAbortedError}, or {@link LockBackendUnavailableError}. Inside
   * `using` for the same key, returns a view of the held lock instead
   * (reentrancy) whose `release` does nothing; asked for more keys than the
   * chain holds, it takes only the missing ones.
   */
  async acquire(keys: LockKeys, options?: LockOptions): Promise<Lock> {
    const { held, request } = this.reentrancy(this.request(keys, options));
    return held ?? this.take(request);
  }

  /**
   * One attempt: the lock, or `null` if another owner holds it. Rejects only
   * for a store failure or bad input.
   */
  async tryAcquire(
    keys: LockKeys,
    options?: Omit<LockOptions, 'waitTimeout'>,
  ): Promise<Lock | null> {
    const { held, request } = this.reentrancy(
      this.request(keys, { ...options, waitTimeout: 0 }),
    );
    if (held) return held;
    try {
      return await this.take(request);
    } catch (error) {
      if (error instanceof LockNotAcquiredError) return null;
      throw error;
    }
  }

  /**
   * Runs `fn` under the lock: acquires (waiting as configured), renews the
   * lease while `fn` runs, and always releases. Nested `using` calls in the
   * same async chain for keys already held reuse the lock (no self-deadlock).
   * A nested call that asks for some keys the chain holds and some it does
   * not takes only the missing ones; the lock passed to `fn` covers those,
   * and `current(key)` finds the holder of any key.
   * If the lock is lost while `fn` runs, `lock.signal` aborts at once and,
   * once `fn` settles, `using` rejects with {@link LockLostError} (unless `fn`
   * itself failed, whose error wins).
   */
  async using<T>(
    keys: LockKeys,
    fn: (lock: Lock) => T | Promise<T>,
    options?: LockOptions,
  ): Promise<T> {
    const { held, request } = this.reentrancy(
      this.request(keys, options, true),
    );
    if (held) return fn(held);
    const lock = await this.take(request);
    const locks = new Map(this.context.getStore()?.locks);
    for (const key of lock.keys) locks.set(key, lock);
    let result: T;
    try {
      result = await this.context.run({ locks, current: lock }, () => fn(lock));
    } catch (error) {
      await lock.release().catch(noop);
      throw error;
    }
    const lost = lock.lostReason;
    try {
      await lock.release();
    } catch (error) {
      throw lost ? lock.lostError(lost, error) : error;
    }
    if (lost) throw lock.lostError(lost);
    return result;
  }

  /**
   * The lock that the current async call chain holds through `using`: the
   * one for `key`, or the innermost one without a key.
   */
  current(key?: string): Lock | undefined {
    const context = this.context.getStore();
    return key === undefined ? context?.current : context?.locks.get(key);
  }

  /**
   * Stops renewals, gives up every wait, releases every held lock, and closes
   * the store. Calls made afterwards fail.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const waiter of this.waiting) waiter.fail(closedError());
    const locks = [...this.held];
    for (const lock of locks) lock.lose('closed');
    await Promise.allSettled(locks.map((lock) => lock.release()));
    await this.store.close();
  }

  private request(
    keys: LockKeys,
    options: LockOptions | undefined,
    renew = false,
  ): LockRequest {
    if (this.closed) throw closedError();
    const normalized = this.keyspace.normalize(keys);
    return {
      keys: normalized,
      storeKeys: normalized.map((key) => this.keyspace.storeKey(key)),
      options: this.resolve(options, renew),
    };
  }

  /**
   * Call options merged with the defaults. NOTE: a frozen options object (the
   * decorator passes one per method) is resolved once and remembered, which
   * keeps validation off the hot path; other objects are read on every call.
   */
  private resolve(
    options: LockOptions | undefined,
    renew: boolean,
  ): ResolvedLockOptions {
    const cache = renew ? this.resolvedRenewing : this.resolved;
    const source = options ?? this.defaults;
    let resolved = cache.get(source);
    if (!resolved) {
      resolved = resolveOptions(this.defaults, source, 'options');
      if (renew) resolved.autoRenew = true;
      if (source === this.defaults || Object.isFrozen(source))
        cache.set(source, resolved);
    }
    return resolved;
  }

  /**
   * Reentrancy: when the current call chain already holds every key, a view
   * of its lock (whose `release` does nothing); when it holds some, the
   * request narrowed to the missing keys, so the chain never waits for itself.
   */
  private reentrancy(request: LockRequest): {
    held?: Lock;
    request: LockRequest;
  } {
    const context = this.context.getStore();
    if (!context) return { request };
    const missing = request.keys.flatMap((key, index) =>
      context.locks.get(key)?.isHeld ? [] : [index],
    );
    if (missing.length === 0) {
      const held = context.locks.get(request.keys[0])!.reentrantView();
      return { held, request };
    }
    if (missing.length === request.keys.length) return { request };
    return {
      request: {
        ...request,
        keys: missing.map((index) => request.keys[index]),
        storeKeys: missing.map((index) => request.storeKeys[index]),
      },
    };
  }

  private async take(request: LockRequest): Promise<Lock> {
    const { options, storeKeys } = request;
    if (options.signal?.aborted)
      throw new LockAbortedError(request.keys, {
        cause: options.signal.reason,
      });
    const token = createLockToken();
    const single = storeKeys.length === 1 ? storeKeys[0] : undefined;
    // NOTE: a caller that finds local waiters, or another local attempt in
    // flight, queues behind them instead of barging in: waiters in one
    // process are served in arrival order, and a burst of callers costs one
    // store attempt instead of one each.
    if (
      single !== undefined &&
      options.waitTimeout > 0 &&
      (this.queues.get(single)?.waiters.length || this.inFlight.has(single))
    ) {
      return this.wait(request, token, 0);
    }
    if (single !== undefined)
      this.inFlight.set(single, (this.inFlight.get(single) ?? 0) + 1);
    const startedAt = performance.now();
    let result: AcquireResult;
    try {
      result = await this.attempt(request, token, options.signal);
    } finally {
      if (single !== undefined) this.leaveFlight(single);
    }
    if (result.acquired) {
      // NOTE: the caller gave up while the grant was in flight: hand it back.
      if (options.signal?.aborted) {
        this.releaseQuietly(storeKeys, token);
        throw new LockAbortedError(request.keys, {
          cause: options.signal.reason,
        });
      }
      return this.grant(request, token, result, startedAt);
    }
    if (options.waitTimeout === 0)
      throw new LockNotAcquiredError(request.keys, result.retryAfterMs);
    return this.wait(request, token, result.retryAfterMs);
  }

  private leaveFlight(storeKey: string): void {
    const count = this.inFlight.get(storeKey)! - 1;
    if (count === 0) this.inFlight.delete(storeKey);
    else this.inFlight.set(storeKey, count);
  }

  /** One store attempt; a failed or abandoned one is followed by a release by token. */
  private async attempt(
    request: LockRequest,
    token: string,
    signal?: AbortSignal,
    waiter?: LockWaiter,
  ): Promise<AcquireResult> {
    const pending = this.store.acquire(
      request.storeKeys,
      token,
      request.options.ttl,
    );
    try {
      return await (waiter ? waiter.race(pending) : pending);
    } catch (error) {
      // NOTE: the command may still run on the server (a timeout is not a
      // refusal), and the waiter may have given up while it was in flight.
      // Releasing by token is always safe and leaves no orphan lease.
      if (
        error instanceof LockBackendUnavailableError ||
        waiter?.cancelled ||
        signal?.aborted
      ) {
        pending.then(
          (result) => {
            if (result.acquired) this.releaseQuietly(request.storeKeys, token);
          },
          () => this.releaseQuietly(request.storeKeys, token),
        );
      }
      throw error;
    }
  }

  /**
   * Releases by token in the background, for a grant nobody will use. If the
   * store cannot be reached, tries again a few times: the lease would block
   * the key for its whole ttl otherwise.
   */
  private releaseQuietly(
    storeKeys: readonly string[],
    token: string,
    attempt = 1,
  ): void {
    this.store.release(storeKeys, token).catch((error: unknown) => {
      if (attempt >= 3 || !(error instanceof LockBackendUnavailableError))
        return;
      const retry = setTimeout(
        () => this.releaseQuietly(storeKeys, token, attempt + 1),
        500 * attempt,
      );
      retry.unref();
    });
  }

  private async wait(
    request: LockRequest,
    token: string,
    retryAfterMs: number,
  ): Promise<Lock> {
    if (this.closed) throw closedError();
    const { keys, storeKeys, options } = request;
    const waiter = new LockWaiter(
      keys,
      options.waitTimeout,
      retryAfterMs,
      options.signal,
    );
    const queues = storeKeys.map((key) => this.queue(key));
    const single = queues.length === 1;
    if (single) queues[0].waiters.push(waiter);
    else for (const queue of queues) queue.others.add(waiter);
    this.waiting.add(waiter);
    let granted = false;
    try {
      await waiter.race(
        Promise.all(queues.map((queue) => this.subscribe(queue))),
      );
      for (;;) {
        if (single && queues[0].waiters[0] !== waiter) {
          await waiter.sleep(Infinity);
          continue;
        }
        const startedAt = performance.now();
        const result = await this.attempt(request, token, undefined, waiter);
        if (result.acquired) {
          granted = true;
          return this.grant(request, token, result, startedAt);
        }
        waiter.retryAfterMs = result.retryAfterMs;
        const backoff = backoffDelay(
          waiter.attempts++,
          options.baseDelay,
          options.maxDelay,
        );
        // NOTE: a holder's lease end is worth waking for; an unknown one (a key
        // without expiry reports -1) leaves only the backoff.
        await waiter.sleep(
          result.retryAfterMs > 0
            ? Math.min(result.retryAfterMs + 1, backoff)
            : backoff,
        );
      }
    } finally {
      waiter.dispose();
      this.waiting.delete(waiter);
      for (const queue of queues)
        this.leave(queue, waiter, granted ? options.ttl : 0);
    }
  }

  private queue(storeKey: string): KeyQueue {
    let queue = this.queues.get(storeKey);
    if (!queue) {
      queue = {
        key: storeKey,
        waiters: [],
        others: new Set(),
        lastNotice: 0,
        grants: 0,
      };
      this.queues.set(storeKey, queue);
    }
    return queue;
  }

  private subscribe(queue: KeyQueue): Promise<unknown> {
    queue.subscription ??= this.store.subscribe([queue.key], (key, id) =>
      this.onNotice(key, Number(id)),
    );
    return queue.subscription;
  }

  /**
   * Takes `waiter` out of a key's queue. The next head attempts at once if
   * the lock is free as far as we know, or, if `waiter` was just granted the
   * lock, sleeps until a notice or the new lease's end.
   */
  private leave(queue: KeyQueue, waiter: LockWaiter, grantedTtl: number): void {
    if (grantedTtl > 0) queue.grants++;
    queue.others.delete(waiter);
    const index = queue.waiters.indexOf(waiter);
    if (index >= 0) queue.waiters.splice(index, 1);
    const head = queue.waiters[0];
    if (index === 0 && head) {
      if (grantedTtl > 0) head.wakeIn(grantedTtl);
      else head.wake();
    }
    if (
      queue.waiters.length === 0 &&
      queue.others.size === 0 &&
      this.queues.get(queue.key) === queue
    ) {
      this.queues.delete(queue.key);
      queue.subscription?.then((unsubscribe) => unsubscribe(), noop);
    }
  }

  private onNotice(storeKey: string, id: number): void {
    const queue = this.queues.get(storeKey);
    if (!queue || !(id > queue.lastNotice)) return;
    queue.lastNotice = id;
    queue.waiters[0]?.wake();
    for (const waiter of queue.others) waiter.wake();
  }

  private grant(
    request: LockRequest,
    token: string,
    {
      fences,
      validityMs,
      othersWaiting,
    }: Extract<AcquireResult, { acquired: true }>,
    startedAt: number,
  ): Lock {
    if (this.closed) {
      // NOTE: granted after close() released everything: give it back.
      this.releaseQuietly(request.storeKeys, token);
      throw closedError();
    }
    const grant: LockGrant = {
      keys: request.keys,
      storeKeys: request.storeKeys,
      token,
      fences,
      ttl: request.options.ttl,
      maxHold: request.options.maxHold,
      startedAt,
      validityMs,
      othersWaiting,
    };
    const lock = new Lock(this.runtime, grant);
    this.held.add(lock);
    if (request.options.autoRenew) lock.startRenewal();
    return lock;
  }

  /**
   * A single-key release was just sent: wake the first local waiter now. Its
   * attempt goes out on the same connection right behind the release, so
   * Redis runs it just after the release: a handoff in one round trip
   * instead of two (release answered, then acquire).
   */
  private onReleasing(lock: Lock): void {
    // NOTE: only while no other process waits: an early wake always wins the
    // race, so other processes would starve.
    if (lock.storeKeys.length !== 1 || lock.othersWaiting) return;
    const queue = this.queues.get(lock.storeKeys[0]);
    const head = queue?.waiters[0];
    if (!queue || !head) return;
    queue.earlyWake = { fence: lock.fence, grants: queue.grants };
    head.wake();
  }

  private onReleased(lock: Lock, freed: boolean): void {
    this.held.delete(lock);
    // NOTE: while other processes wait, local waiters learn of the release
    // from pub/sub like everybody else: an earlier local wake would win
    // nearly every race and let one process keep the lock.
    if (!freed || lock.othersWaiting) return;
    // NOTE: wake local waiters now rather than after the pub/sub round trip;
    // the same notice arriving over pub/sub later is dropped by its id. If the
    // early wake already led to a grant, there is nothing left to wake.
    lock.storeKeys.forEach((key, index) => {
      const fence = lock.fences[index];
      const queue = this.queues.get(key);
      const early = queue?.earlyWake;
      if (queue) queue.earlyWake = undefined;
      if (queue && early?.fence === fence && queue.grants > early.grants) {
        queue.lastNotice = Math.max(queue.lastNotice, fence);
        return;
      }
      this.onNotice(key, fence);
    });
  }
}

function resolveOptions(
  base: ResolvedLockOptions,
  options: LockOptions,
  label: string,
): ResolvedLockOptions {
  const ttl = options.ttl ?? base.ttl;
  const resolved: ResolvedLockOptions = {
    // NOTE: Redis takes whole milliseconds; a fractional lease rounds up.
    ttl: typeof ttl === 'number' ? Math.ceil(ttl) : ttl,
    waitTimeout: options.waitTimeout ?? base.waitTimeout,
    maxHold: options.maxHold ?? base.maxHold,
    autoRenew: options.autoRenew ?? base.autoRenew,
    baseDelay: options.retry?.baseDelay ?? base.baseDelay,
    maxDelay: options.retry?.maxDelay ?? base.maxDelay,
    signal: options.signal,
  };
  assertDuration(resolved.ttl, `${label}.ttl`, 1);
  assertDuration(resolved.waitTimeout, `${label}.waitTimeout`, 0);
  assertDuration(resolved.maxHold, `${label}.maxHold`, 1);
  assertDuration(resolved.baseDelay, `${label}.retry.baseDelay`, 0);
  assertDuration(resolved.maxDelay, `${label}.retry.maxDelay`, 0);
  return resolved;
}

function assertDuration(value: number, name: string, min: number): void {
  // NOTE: a lease must fit in a Node timer (at most 2^31-1 ms, about 24 days);
  // waits and hold caps may be Infinity.
  const max = name.endsWith('ttl') ? MAX_TIMER_DELAY : Infinity;
  if (
    typeof value !== 'number' ||
    Number.isNaN(value) ||
    value < min ||
    value > max
  ) {
    throw new LockError(
      `${name} must be a number of milliseconds from ${min} to ${max} (got ${String(value)}).`,
    );
  }
}

function closedError(): LockError {
  return new LockError(
    'The lock manager is closed (the application is shutting down); no lock can be taken.',
  );
}

function noop(): void {}
