import { AsyncLocalStorage } from 'node:async_hooks';
import { backoffDelay } from './backoff.js';
import { callAsync } from './call-async.js';
import { LockAbortedError } from './errors/lock-aborted.error.js';
import { LockBackendUnavailableError } from './errors/lock-backend-unavailable.error.js';
import { LockError } from './errors/lock-error.js';
import { LockManagerClosedError } from './errors/lock-manager-closed.error.js';
import { LockNotAcquiredError } from './errors/lock-not-acquired.error.js';
import {
  combinedView,
  Lock,
  type LockGrant,
  type LockRuntime,
} from './lock.js';
import { LockKeyspace } from './lock-key.js';
import {
  DEFAULT_LOCK_OPTIONS,
  MAX_TIMER_DELAY,
  MIN_TTL_MS,
  assertDuration,
  CLOSE_TIMEOUT_RULE,
  driftFactorOf,
  isCloseTimeout,
  type LockManagerOptions,
  type LockOptions,
  type ResolvedLockOptions,
} from './lock-options.js';
import { createLockToken } from './lock-token.js';
import {
  LockWaiter,
  type LockRequest,
  type QueuedGrant,
} from './lock-waiter.js';
import type {
  AcquireResult,
  GrantNotice,
  HandoffResult,
  LockOutcome,
  LockStore,
  QueueingLockStore,
} from './stores/lock-store.js';
import { TICKET_REFRESH_MS } from './stores/queue-timing.js';
import { noop } from './noop.js';

/** One key or several keys taken together (all or nothing). */
export type LockKeys = string | readonly string[];

/**
 * The locks that the current async call chain holds through `using`: the
 * innermost one and the chain's outer ones. NOTE: a linked chain rather than
 * a map per call: nesting is shallow, and `using` stays allocation-light.
 */
interface LockContext {
  readonly current: Lock;
  readonly outer?: LockContext;
}

/**
 * This process's place in a queueing store's line for a key: the token the
 * lock will be granted to when the turn comes. One ticket per key at a time;
 * whichever local waiter is first takes it. A ticket that is given up is
 * never used again (a late grant to it is handed on by the store).
 */
interface Ticket {
  readonly token: string;
  /** `performance.now()` when the first attempt with this ticket was sent. */
  readonly firstSentAt: number;
  /** The latest refusal: when it was sent, and the store clock (µs) when it was decided. */
  refusedAt?: number;
  serverTime?: number;
}

/** The waiters of one store key in this process. */
interface KeyQueue {
  readonly key: string;
  /** Single-key waiters, first come first served: only the head asks the store. */
  readonly waiters: LockWaiter[];
  /** Multi-key waiters that include this key: each asks on every notice. */
  readonly others: Set<LockWaiter>;
  /**
   * The ids of the last few release notices seen (oldest first): notices
   * come twice (locally and over pub/sub), and the second copy is dropped.
   */
  recentNotices: number[];
  /** This process's place in the store's queue (queueing stores, single-key waits). */
  ticket?: Ticket;
  subscription?: Promise<() => void>;
  /**
   * When the holder's lease ends, by the last refusal of an attempt on this
   * key: what a waiter that never asks itself reports when it gives up.
   */
  leaseEndsAt?: number;
}

/**
 * The lock engine: acquire, try, or run a function under a lock, on any
 * {@link LockStore}. Framework-free; one instance per process and store.
 *
 * Waiting is fair and costs Redis one grant per release. With a queueing
 * store (Redis, memory), a refused single-key attempt takes a place in the
 * key's queue in the store (one place per process); a release hands the lock
 * straight to the first place in line, and the store tells that process,
 * whose first local waiter takes it. Waiters of a key in one process line up
 * first come first served behind one ticket. A waiter also retries when the
 * holder's lease would end (expiry hands the lock on only when someone asks)
 * and renews its place every second. A release with a local waiter for the
 * key passes the lock straight to it (a new token, the fence plus one; the
 * store moves the lease meanwhile), at most `localHandoffs` times in a row
 * while another process is in line; then the release goes to the line.
 *
 * Multi-key waits, and stores without a queue (a quorum of masters), are
 * woken by release notices (one shared subscriber connection, multiplexed by
 * key) and retry at the holder's lease end or after an exponential backoff
 * with full jitter, whichever comes first.
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
  private readonly localHandoffs: number;
  private readonly closeTimeout: number;
  /** Locks whose `using` work is running: close() waits for them. */
  private readonly working = new Set<Lock>();
  private onWorkDone?: () => void;
  private readonly context = new AsyncLocalStorage<LockContext>();
  private readonly queues = new Map<string, KeyQueue>();
  /** Locks held in this process, by token: close() releases them. */
  private readonly held = new Map<string, Lock>();
  /** `held` is swept of locks left to expire once it grows past this. */
  private sweepAbove = SWEEP_MIN_LOCKS;
  private readonly resolved = new WeakMap<object, ResolvedLockOptions>();
  private readonly resolvedRenewing = new WeakMap<
    object,
    ResolvedLockOptions
  >();
  private lastResolved?: {
    readonly source: LockOptions;
    readonly renew: boolean;
    readonly resolved: ResolvedLockOptions;
  };
  /** Fast-path attempts under way in this process, per single store key. */
  private readonly inFlight = new Map<string, number>();
  private readonly waiting = new Set<LockWaiter>();
  /**
   * Grants that came while the attempt that queued their ticket was still
   * unanswered (grants and answers come on different connections), by token:
   * that attempt takes its own when it is refused.
   */
  private readonly earlyGrants = new Map<string, GrantNotice>();
  /**
   * Store calls under way that close() lets finish before it closes the
   * store: attempts, and the releases and dequeues that clean up after them.
   */
  private callsUnderWay = 0;
  private onCallsSettled?: () => void;
  private readonly callDone = (): void => {
    if (--this.callsUnderWay === 0) this.onCallsSettled?.();
  };
  private readonly attemptAnswered = (result: AcquireResult): AcquireResult => {
    this.callDone();
    return result;
  };
  /**
   * Counted local handoffs per store key since this process last got the key
   * from the store or released it. NOTE: kept apart from the key's waiters,
   * which come and go: a process with one waiter at a time would otherwise
   * start a new streak on every pass and keep the key from the line.
   */
  private readonly streaks = new Map<string, number>();
  private readonly runtime: LockRuntime;
  /** The store's queue, when it keeps one. */
  private readonly queueing?: QueueingLockStore;
  /** The store can pass a held lock to a local waiter (`handOff`). */
  private readonly handsOff: boolean;
  /** Grants from the store's queue are live (subscribed). */
  private grantsLive = false;
  private grantSubscription?: Promise<() => void>;
  private closed = false;
  private closing?: Promise<void>;

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
    this.driftFactor = driftFactorOf(options.driftFactor);
    this.closeTimeout = options.closeTimeout ?? 10_000;
    if (!isCloseTimeout(this.closeTimeout))
      throw new LockError(
        `closeTimeout ${CLOSE_TIMEOUT_RULE} (got ${String(options.closeTimeout)}).`,
      );
    this.localHandoffs = options.localHandoffs ?? 8;
    if (!Number.isInteger(this.localHandoffs) || this.localHandoffs < 0)
      throw new LockError(
        `localHandoffs must be a whole number from 0 (got ${String(options.localHandoffs)}).`,
      );
    const { retry, ...builtIn } = DEFAULT_LOCK_OPTIONS;
    this.defaults = resolveOptions(
      { ...builtIn, ...retry },
      options.defaults ?? {},
      'defaults',
    );
    this.assertUsableTtl(this.defaults.ttl, 'defaults.ttl');
    this.runtime = {
      store: this.store,
      // NOTE: the drift allowance grows with the lease it covers: the one
      // granted (a queued grant's first lease is shorter than the ttl).
      validity: (ttl, startedAt, reported) => {
        const lease = reported ?? ttl;
        return startedAt + lease - (lease * this.driftFactor + 2);
      },
      release: (lock) => this.releaseLock(lock),
      forget: (lock, leaseMs) => this.forgetLost(lock, leaseMs),
    };
    if (isQueueingStore(this.store)) this.queueing = this.store;
    this.handsOff = typeof this.queueing?.handOff === 'function';
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
    const { held, request } = this.enter(keys, options);
    return held ?? this.take(request);
  }

  /**
   * One attempt: the lock, or `null` if another owner holds it. Rejects for
   * a store failure, bad input, or a `signal` aborted before the call or
   * while a granted attempt was on its way ({@link LockAbortedError}; the
   * lock is given back).
   */
  async tryAcquire(
    keys: LockKeys,
    options?: Omit<LockOptions, 'waitTimeout'>,
  ): Promise<Lock | null> {
    const { held, request } = this.enter(keys, {
      ...options,
      waitTimeout: 0,
    });
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
   * same async chain for keys already held reuse the lock (no self-deadlock);
   * keys held by several locks of the chain come back as one lock over all
   * of them (held while each of those is; `extend` extends them all).
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
    const { held, holders, request } = this.enter(keys, options, true);
    if (!holders) return this.usingFresh(request, fn);
    // NOTE: a nested call that outlives the call that holds its keys (one
    // started without `await`) still runs under them: the outer call
    // releases only once every such nested call has settled.
    const run = held ? settle(fn, held) : this.usingFresh(request, fn);
    for (const holder of holders) holder.trackNested(run);
    return run;
  }

  private async usingFresh<T>(
    request: LockRequest,
    fn: (lock: Lock) => T | Promise<T>,
  ): Promise<T> {
    const lock = await this.take(request);
    // NOTE: a lock passed on in this process just before close() began
    // reaches its waiter afterwards: like any new lock, it is refused (close()
    // would take it away at once, with no wait for the work it started).
    if (this.closed) {
      await lock.release().catch(noop);
      throw closedError();
    }
    const lostEarly = lock.lostReason;
    if (lostEarly) {
      // NOTE: a lock passed on in this process can be lost before `fn` runs
      // (its handoff refused): `fn` must not run under it.
      await lock.release().catch(noop);
      throw lock.lostError(lostEarly);
    }
    const context = { current: lock, outer: this.context.getStore() };
    let result: T;
    this.working.add(lock);
    try {
      try {
        result = await this.context.run(context, () => fn(lock));
      } catch (error) {
        while (lock.nestedRunning) await lock.nestedSettled();
        if (!lock.closedUnderNested) await lock.release().catch(noop);
        throw error;
      }
      // NOTE: checked again after each wait, and released in the same turn:
      // a nested call that starts from here on takes the key afresh.
      while (lock.nestedRunning) await lock.nestedSettled();
      const lost = lock.lostReason;
      // NOTE: close() gave up on this work while a nested call still runs
      // under it: its lease is left to run out, as for any work still running.
      if (lock.closedUnderNested) throw lock.lostError('closed');
      try {
        await lock.release();
      } catch (error) {
        throw lost ? lock.lostError(lost, error) : error;
      }
      if (lost) throw lock.lostError(lost);
      return result;
    } finally {
      this.working.delete(lock);
      if (this.working.size === 0) this.onWorkDone?.();
    }
  }

  /**
   * The lock that the current async call chain holds through `using`: the
   * one for `key`, or the innermost one without a key.
   */
  current(key?: string): Lock | undefined {
    const context = this.context.getStore();
    return key === undefined ? context?.current : holderOf(context, key);
  }

  /**
   * Gives up every wait and refuses new locks, waits up to `closeTimeout`
   * for the work running under `using` to end, then stops renewals,
   * releases every held lock (but leaves the lease of work still running to
   * run out) and closes the store. Calls made afterwards fail. Every call
   * settles when all of that is done (a second shutdown hook must not let
   * the process exit with a lease still in Redis).
   */
  close(): Promise<void> {
    return (this.closing ??= this.closeOnce());
  }

  private async closeOnce(): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiting) waiter.fail(closedError());
    await this.workDone();
    // NOTE: one turn for the failed waiters to clean up (a grant that reached
    // one of them is released, its place in line given up) before the store
    // closes.
    await new Promise((resolve) => setImmediate(resolve));
    const locks = [...this.held.values()];
    for (const lock of locks) lock.lose('closed');
    // NOTE: the lease of work still running is left to run out: released,
    // it would let another instance in while that work goes on.
    await Promise.allSettled(
      locks
        .filter((lock) => !this.working.has(lock))
        .map((lock) => lock.release()),
    );
    await this.callsSettled();
    this.grantSubscription?.then((stop) => stop(), noop);
    await this.store.close();
  }

  /** Waits for the work running under `using`, up to `closeTimeout`. */
  private async workDone(): Promise<void> {
    if (this.working.size === 0 || this.closeTimeout === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await new Promise<void>((resolve) => {
      this.onWorkDone = resolve;
      timer = setTimeout(resolve, this.closeTimeout);
    });
    clearTimeout(timer);
    this.onWorkDone = undefined;
  }

  /**
   * Waits until no store call of this manager is under way. NOTE: an answer
   * that comes during close() is acted on (a grant handed back, a place in
   * line given up), which sends another call: each is waited for in turn,
   * a turn of the event loop after the last. Every call is bounded by the
   * store's own timeout.
   */
  private async callsSettled(): Promise<void> {
    for (;;) {
      if (this.callsUnderWay > 0)
        await new Promise<void>((resolve) => (this.onCallsSettled = resolve));
      this.onCallsSettled = undefined;
      await new Promise((resolve) => setImmediate(resolve));
      if (this.callsUnderWay === 0) return;
    }
  }

  private request(
    keys: LockKeys,
    options: LockOptions | undefined,
    renew = false,
  ): LockRequest {
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
    if (resolved) return resolved;
    // NOTE: callers often pass a fresh object with the same values on every
    // call: the last such resolution is reused when every field matches.
    const last = this.lastResolved;
    if (last && last.renew === renew && sameOptions(last.source, source))
      return last.resolved;
    resolved = resolveOptions(this.defaults, source, 'options');
    this.assertUsableTtl(resolved.ttl, 'options.ttl');
    if (renew) resolved.autoRenew = true;
    if (!options || Object.isFrozen(options)) cache.set(source, resolved);
    else
      this.lastResolved = {
        source: { ...options, retry: options.retry && { ...options.retry } },
        renew,
        resolved,
      };
    return resolved;
  }

  /**
   * A lease must leave some validity once its drift allowance (`ttl *
   * driftFactor + 2` ms) is taken off, or no grant would ever be usable.
   */
  private assertUsableTtl(ttl: number, name: string): void {
    if (ttl * (1 - this.driftFactor) - 2 >= MIN_VALIDITY_MS) return;
    throw new LockError(
      `${name} (${ttl} ms) leaves less than ${MIN_VALIDITY_MS} ms of validity once the drift allowance (ttl * driftFactor ${this.driftFactor} + 2 ms) is taken off; use a longer ttl.`,
    );
  }

  /**
   * A call's request, seen through the locks of its call chain (see
   * reentrancy). NOTE: while close() waits for running work, that work may
   * still enter its own keys again; any other lock is refused.
   */
  private enter(
    keys: LockKeys,
    options: LockOptions | undefined,
    renew = false,
  ) {
    const entry = this.reentrancy(this.request(keys, options, renew));
    if (this.closed && !entry.held) throw closedError();
    return entry;
  }

  /**
   * Reentrancy: when the current call chain already holds every key, a view
   * of its lock (whose `release` does nothing); when it holds some, the
   * request narrowed to the missing keys, so the chain never waits for itself.
   */
  private reentrancy(request: LockRequest): {
    held?: Lock;
    /** The locks of the chain that hold some of the keys. */
    holders?: Set<Lock>;
    request: LockRequest;
  } {
    const context = this.context.getStore();
    if (!context) return { request };
    const holders = new Set<Lock>();
    const missing = request.keys.flatMap((key, index) => {
      const holder = holderOf(context, key);
      if (!holder?.isHeld || !holder.takesNested) return [index];
      holders.add(holder);
      return [];
    });
    if (missing.length === 0) {
      const held =
        holders.size === 1
          ? holderOf(context, request.keys[0])!.reentrantView()
          : combinedView(request.keys, [...holders]);
      return { held, holders, request };
    }
    if (missing.length === request.keys.length) return { request };
    return {
      holders,
      request: {
        ...request,
        keys: missing.map((index) => request.keys[index]),
        storeKeys: missing.map((index) => request.storeKeys[index]),
      },
    };
  }

  /**
   * One store attempt, then the lock or the wait. NOTE: written with `then`
   * rather than `await`: this is the hot path of every lock, and each
   * promise it saves counts (more so where async context tracking is on).
   */
  private take(request: LockRequest): Promise<Lock> {
    const { options, storeKeys } = request;
    if (options.signal?.aborted)
      throw new LockAbortedError(request.keys, {
        cause: options.signal.reason,
      });
    const single = storeKeys.length === 1 ? storeKeys[0] : undefined;
    const waits = options.waitTimeout > 0;
    // NOTE: a caller that finds local waiters, or another local attempt in
    // flight, queues behind them instead of barging in: waiters in one
    // process are served in arrival order, and a burst of callers costs one
    // store attempt instead of one each.
    if (
      single !== undefined &&
      waits &&
      (this.queues.has(single) || this.inFlight.has(single))
    ) {
      return this.wait(request);
    }
    const queue = waits && single !== undefined && this.queueing !== undefined;
    const token = createLockToken();
    if (single !== undefined)
      this.inFlight.set(single, (this.inFlight.get(single) ?? 0) + 1);
    const startedAt = performance.now();
    const attempted =
      queue && !this.grantsLive
        ? this.listenForGrants().then(() => this.attempt(request, token, queue))
        : this.attempt(request, token, queue);
    const taken = attempted.then(
      (result) => {
        const early =
          this.earlyGrants.size > 0 ? this.takeEarlyGrant(token) : undefined;
        if (single !== undefined) this.leaveFlight(single);
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
        if (!waits)
          throw new LockNotAcquiredError(request.keys, result.retryAfterMs);
        return this.wait(
          request,
          single !== undefined
            ? { token, startedAt, result, early }
            : undefined,
          result.retryAfterMs,
          startedAt,
        );
      },
      (error: unknown) => {
        if (single !== undefined) {
          // NOTE: only a waiting caller's attempt has a line behind it (it
          // starts when the key has no local waiters and no attempt under
          // way); a tryAcquire's runs beside a line, whose head asks itself.
          if (waits) this.failLine(single, error);
          this.leaveFlight(single);
        }
        throw this.closed ? closedError() : error;
      },
    );
    // NOTE: a caller with a signal may give up during the first attempt too
    // (slow on a quorum store whose masters disagree); the attempt still
    // runs to its end, which hands back what it took.
    return options.signal && waits
      ? abortable(taken, options.signal, request.keys)
      : taken;
  }

  /**
   * The store did not answer an attempt for `storeKey`: the local waiters
   * in line behind it (who never ask the store themselves while another
   * attempt is under way) fail with the same error now, instead of one per
   * operation timeout as each becomes first in line, and instead of a
   * LockWaitTimeoutError (contention) for those still in line at their
   * waitTimeout. A waiter that a lock or grant already reached keeps it.
   */
  private failLine(
    storeKey: string,
    error: unknown,
    except?: LockWaiter,
  ): void {
    if (!(error instanceof LockBackendUnavailableError)) return;
    const waiters = this.queues.get(storeKey)?.waiters;
    if (!waiters) return;
    for (const waiter of waiters)
      if (waiter !== except && !waiter.granted) waiter.fail(error);
  }

  private leaveFlight(storeKey: string): void {
    const count = this.inFlight.get(storeKey)! - 1;
    if (count > 0) return void this.inFlight.set(storeKey, count);
    this.inFlight.delete(storeKey);
    // NOTE: a grant kept for an attempt that did not take it was for a
    // ticket this process no longer uses: left alone, as in onGrant.
    if (this.earlyGrants.size > 0)
      for (const [token, grant] of this.earlyGrants)
        if (grant.key === storeKey) this.earlyGrants.delete(token);
    // NOTE: callers that arrived during the attempt wait for it to end.
    this.queues.get(storeKey)?.waiters[0]?.wake();
  }

  private takeEarlyGrant(token: string): GrantNotice | undefined {
    const grant = this.earlyGrants.get(token);
    if (grant) this.earlyGrants.delete(token);
    return grant;
  }

  /** Subscribes to the grants of the store's queue, once. */
  private async listenForGrants(): Promise<void> {
    this.grantSubscription ??= this.queueing!.onGrant((grant) =>
      this.onGrant(grant),
    );
    try {
      await this.grantSubscription;
    } catch (error) {
      this.grantSubscription = undefined;
      throw error;
    }
    this.grantsLive = true;
  }

  /**
   * One store attempt; a failed or abandoned one is followed by a release by
   * token, and an abandoned queued one gives its ticket up.
   */
  private attempt(
    request: LockRequest,
    token: string,
    queue: boolean,
    waiter?: LockWaiter,
  ): Promise<AcquireResult> {
    // NOTE: a store that throws instead of rejecting must not leave the
    // key's attempt counted as in flight (later callers would wait on it).
    const send = () =>
      this.store.acquire(
        request.storeKeys,
        token,
        request.options.ttl,
        queue ? QUEUE : undefined,
      );
    if (waiter) {
      const pending = this.tracked(send);
      return waiter
        .race(pending)
        .catch((error: unknown) =>
          this.failedAttempt(request, token, queue, pending, error, waiter),
        );
    }
    // NOTE: the fast path counts its call in the handlers it needs anyway:
    // one promise fewer per lock than tracked().
    this.callsUnderWay++;
    const pending = callAsync(send);
    return pending.then(this.attemptAnswered, (error: unknown) => {
      this.callDone();
      return this.failedAttempt(request, token, queue, pending, error);
    });
  }

  /** A store call that close() waits for (see callsSettled). */
  private tracked<T>(call: () => Promise<T>): Promise<T> {
    this.callsUnderWay++;
    const pending = callAsync(call);
    pending.then(this.callDone, this.callDone);
    return pending;
  }

  /** Cleans up after an attempt that failed or was given up, and rethrows. */
  private failedAttempt(
    request: LockRequest,
    token: string,
    queue: boolean,
    pending: Promise<AcquireResult>,
    error: unknown,
    waiter?: LockWaiter,
  ): never {
    // NOTE: the store's queue granted this very ticket while the attempt
    // was in flight, and the grant reached the waiter: the waiter takes
    // it, or leave() passes it on or releases it. Releasing the token here
    // too would free the key under the next local waiter.
    const granted = waiter?.granted;
    if (granted && !(granted instanceof Lock) && granted.token === token)
      throw error;
    // NOTE: the same holds when the grant went to another local waiter (this
    // one had a lock passed on meanwhile, or gave up): that waiter holds the
    // key with this token, and giving the ticket up would free it under it.
    if (queue && this.grantTaken(request.storeKeys[0], token)) throw error;
    // NOTE: the command may still run on the server (a timeout is not a
    // refusal), the waiter may have given up while it was in flight, and a
    // script that failed midway (WRONGTYPE on a queue key) keeps what it
    // wrote before. Releasing by token is always safe and leaves no orphan
    // lease; a ticket in flight is retired so that nobody reuses its token.
    if (queue) this.retireTicket(request.storeKeys[0], token);
    pending.then(
      (result) => {
        if (result.acquired) this.releaseQuietly(request.storeKeys, token);
      },
      () => this.releaseQuietly(request.storeKeys, token),
    );
    throw error;
  }

  /**
   * A grant to the ticket `token` reached a local waiter of `storeKey`: one
   * still has it, or it became a lock that this process holds.
   */
  private grantTaken(storeKey: string, token: string): boolean {
    if (this.held.has(token)) return true;
    const waiters = this.queues.get(storeKey)?.waiters;
    return (
      waiters !== undefined &&
      waiters.some(
        ({ granted }) =>
          granted !== undefined &&
          !(granted instanceof Lock) &&
          granted.token === token,
      )
    );
  }

  /**
   * Releases a lock passed to `waiter` that it will not use, in the
   * background, like any release (which passes it on to the next local
   * waiter when there is one). If the store does not answer and the lock is
   * still held (it was not passed on meanwhile), it is retired and released
   * by token, with the retries of {@link releaseQuietly}: never passed on
   * again, since the first release may have freed the key already.
   */
  private dropPassed(waiter: LockWaiter): void {
    const lock = waiter.granted;
    if (!(lock instanceof Lock)) return;
    lock.release().catch((error: unknown) => {
      if (!(error instanceof LockBackendUnavailableError) || !lock.isHeld)
        return;
      lock.passedOn();
      this.held.delete(lock.token);
      this.releaseQuietly(lock.storeKeys, lock.token);
    });
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
    this.tracked(() => this.store.release(storeKeys, token)).catch(
      (error: unknown) => {
        if (attempt >= 3 || !(error instanceof LockBackendUnavailableError))
          return;
        const retry = setTimeout(
          () => this.releaseQuietly(storeKeys, token, attempt + 1),
          500 * attempt,
        );
        retry.unref();
      },
    );
  }

  /**
   * Waits for the lock. `first` is the caller's refused single-key attempt;
   * with a queueing store, its token now holds this process's place in the
   * store's line.
   */
  private async wait(
    request: LockRequest,
    first?: {
      token: string;
      startedAt: number;
      result: AcquireResult;
      /** A grant to that token that came before the refusal. */
      early?: GrantNotice;
    },
    retryAfterMs = 0,
    /** When the caller asked: the wait's deadline counts from there. */
    calledAt = performance.now(),
  ): Promise<Lock> {
    if (this.closed) {
      // NOTE: the refused attempt's place in line would be granted to nobody.
      if (first && this.queueing)
        this.retireTicket(request.storeKeys[0], first.token);
      throw closedError();
    }
    const { storeKeys, options } = request;
    const queues = storeKeys.map((key) => this.queue(key));
    const single = queues.length === 1 ? queues[0] : undefined;
    if (single) noteLeaseEnd(single, retryAfterMs);
    // NOTE: a waiter queued behind others of this process never asks the
    // store: when it gives up, it reports the lease end the key's last
    // refusal gave.
    const waiter = new LockWaiter(
      request,
      retryAfterMs,
      calledAt,
      single && (() => single.leaseEndsAt),
    );
    const queued = single !== undefined && this.queueing !== undefined;
    if (single && first) {
      // NOTE: the caller was first: everyone here arrived during its attempt
      // (with or without a queue in the store).
      single.waiters.unshift(waiter);
      if (queued) {
        single.ticket = {
          token: first.token,
          firstSentAt: first.startedAt,
        };
        this.noteRefusal(single.ticket, first.startedAt, first.result);
        if (first.early) this.onGrant(first.early);
      }
    } else if (single) single.waiters.push(waiter);
    else for (const queue of queues) queue.others.add(waiter);
    this.waiting.add(waiter);
    let granted = false;
    // NOTE: a refused queued attempt already holds a place in line (grants
    // were live before it was sent): sleep before asking again. A
    // notice-driven waiter asks once more after subscribing, since a release
    // in between would have gone unheard.
    let asked = queued && first !== undefined;
    try {
      if (queued) await waiter.race(this.listenForGrants());
      else
        await waiter.race(
          Promise.all(queues.map((queue) => this.subscribe(queue))),
        );
      for (;;) {
        const grant = waiter.granted;
        if (grant instanceof Lock && !grant.isHeld) {
          // NOTE: the lock passed to this waiter was lost before the waiter
          // took it (the store refused the handoff, or close() ran): the
          // caller must not run under it. Its release is harmless; waiting
          // goes on.
          this.dropPassed(waiter);
          waiter.granted = undefined;
          if (this.closed) throw closedError();
          continue;
        }
        if (grant instanceof Lock) {
          granted = true;
          return grant;
        }
        if (grant) {
          // NOTE: from here on the grant is this waiter's to use or give back.
          waiter.granted = undefined;
          const lock = this.unlessLate(waiter, () =>
            this.grantQueued(request, grant),
          );
          if (!lock) continue;
          granted = true;
          return lock;
        }
        if (asked) {
          asked = false;
          await waiter.sleep(
            this.retryDelay(waiter, first!.result, queued, options),
          );
          continue;
        }
        if (
          single &&
          (single.waiters[0] !== waiter || this.inFlight.has(single.key))
        ) {
          await waiter.sleep(Infinity);
          continue;
        }
        const ticket = queued
          ? (single.ticket ??= {
              token: createLockToken(),
              firstSentAt: performance.now(),
            })
          : undefined;
        const token = ticket?.token ?? createLockToken();
        const startedAt = performance.now();
        let result: AcquireResult;
        try {
          result = await this.attempt(request, token, queued, waiter);
        } catch (error) {
          // NOTE: a grant that came meanwhile is the lock this attempt was
          // for (a store call that failed after it is beside the point).
          if (waiter.granted && !waiter.cancelled) continue;
          if (single) this.failLine(single.key, error, waiter);
          throw error;
        }
        if (result.acquired) {
          // NOTE: the grant to this ticket came while the attempt was under
          // way (onGrant took the ticket): the attempt found the key held by
          // its own token, the grant's lease, and took nothing of its own.
          // That lease is the local waiter's the grant went to (this one's
          // own, when it had no lock passed on: the loop takes it), even
          // once that waiter's lock was released or passed on, or the grant
          // was given back (the store runs those releases and handoffs after
          // this attempt).
          if (ticket) {
            if (single!.ticket !== ticket) continue;
            single!.ticket = undefined;
          }
          // NOTE: a lock passed on meanwhile cannot hold the key this attempt
          // took (its handoff is refused): let it go.
          this.dropPassed(waiter);
          const lock = this.unlessLate(waiter, () =>
            this.grant(request, token, result, startedAt),
          );
          if (!lock) continue;
          granted = true;
          return lock;
        }
        if (waiter.granted) continue;
        if (ticket) this.noteRefusal(ticket, startedAt, result);
        waiter.retryAfterMs = result.retryAfterMs;
        if (single) noteLeaseEnd(single, result.retryAfterMs);
        await waiter.sleep(this.retryDelay(waiter, result, queued, options));
      }
    } finally {
      waiter.dispose();
      this.waiting.delete(waiter);
      for (const queue of queues)
        this.leave(queue, waiter, granted ? options.ttl : 0);
    }
  }

  /**
   * The lock `grant` makes, or `undefined` for a grant answered too late
   * (given back) while `waiter` still has time to ask again.
   */
  private unlessLate(waiter: LockWaiter, grant: () => Lock): Lock | undefined {
    try {
      return grant();
    } catch (error) {
      if (error instanceof LateGrantError && !waiter.cancelled)
        return undefined;
      throw error;
    }
  }

  /**
   * How long a waiter sleeps after a refusal unless something wakes it: until
   * the holder's lease would end (expiry sends no notice), and no longer
   * than a ticket renewal (queued) or the backoff (notice-driven).
   */
  private retryDelay(
    waiter: LockWaiter,
    result: AcquireResult,
    queued: boolean,
    options: ResolvedLockOptions,
  ): number {
    const retryAfterMs = result.acquired ? 0 : result.retryAfterMs;
    const leaseEnd = retryAfterMs > 0 ? retryAfterMs + 1 : Infinity;
    if (queued) return Math.min(leaseEnd, TICKET_REFRESH_MS);
    const backoff = backoffDelay(
      waiter.attempts++,
      options.baseDelay,
      options.maxDelay,
    );
    // NOTE: an unknown lease end (a key without expiry reports -1) leaves
    // only the backoff.
    return Math.min(leaseEnd, backoff);
  }

  private noteRefusal(
    ticket: Ticket,
    sentAt: number,
    result: AcquireResult,
  ): void {
    if (result.acquired || result.serverTime === undefined) return;
    ticket.refusedAt = sentAt;
    ticket.serverTime = result.serverTime;
  }

  /**
   * A grant to this process's ticket: the first local waiter takes it. A
   * notice for a ticket this process no longer uses is left alone: a held
   * lock's token must never be touched, and a given-up ticket is handed on
   * by the store (see `retireTicket`).
   */
  private onGrant(grant: GrantNotice): void {
    const queue = this.queues.get(grant.key);
    const ticket = queue?.ticket;
    if (!ticket || ticket.token !== grant.token) {
      // NOTE: the answer that queued the ticket may still be on its way
      // (grants come on another connection): kept for the attempt in flight.
      if (this.inFlight.has(grant.key))
        this.earlyGrants.set(grant.token, grant);
      return;
    }
    queue!.ticket = undefined;
    const taken = this.give(queue, {
      token: grant.token,
      fence: grant.fence,
      ttl: grant.ttl,
      startedAt: this.grantedAt(ticket, grant),
    });
    if (!taken) this.releaseQuietly([grant.key], grant.token);
  }

  /**
   * Hands a grant to the first local waiter of the key that has none yet;
   * false when nobody is left to take it (the caller releases it).
   */
  private give(queue: KeyQueue | undefined, grant: QueuedGrant): boolean {
    const waiter = queue?.waiters.find(
      (candidate) => !candidate.granted && !candidate.cancelled,
    );
    if (!waiter) return false;
    waiter.granted = grant;
    waiter.wake();
    return true;
  }

  /**
   * The earliest the lease of a queued grant can have started, on this
   * process's clock: validity is counted from there. The store knows it
   * (memory), or it follows from the fence (the server clock at the grant)
   * and the server clock at a refusal this process sent: the grant came
   * (fence - serverTime) later than that refusal, which came after it was
   * sent. Without either, from the first attempt with the ticket (the grant
   * came after it was queued).
   */
  private grantedAt(ticket: Ticket, grant: GrantNotice): number {
    if (grant.grantedAt !== undefined) return grant.grantedAt;
    const now = performance.now();
    if (ticket.refusedAt !== undefined && ticket.serverTime !== undefined) {
      const elapsed = (grant.fence - ticket.serverTime) / 1000;
      if (elapsed >= 0)
        return Math.min(
          now,
          ticket.refusedAt + elapsed * (1 - this.driftFactor),
        );
    }
    return Math.min(now, ticket.firstSentAt);
  }

  /**
   * Gives this process's place in the line up for good: the store takes the
   * ticket out and hands the lock on if it was granted meanwhile.
   */
  private retireTicket(storeKey: string, token: string): void {
    const queue = this.queues.get(storeKey);
    if (queue?.ticket?.token === token) queue.ticket = undefined;
    const queueing = this.queueing;
    if (queueing)
      this.tracked(() => queueing.leaveQueue(storeKey, token)).catch(noop);
  }

  private queue(storeKey: string): KeyQueue {
    let queue = this.queues.get(storeKey);
    if (!queue) {
      queue = {
        key: storeKey,
        waiters: [],
        others: new Set(),
        recentNotices: [],
      };
      this.queues.set(storeKey, queue);
    }
    return queue;
  }

  private subscribe(queue: KeyQueue): Promise<unknown> {
    let subscription = queue.subscription;
    if (!subscription) {
      subscription = callAsync(() =>
        this.store.subscribe([queue.key], (key, id) =>
          this.onNotice(key, Number(id)),
        ),
      );
      queue.subscription = subscription;
      // NOTE: a failed subscription is not kept: the key's queue may outlive
      // the waiters it failed, and later waiters ask again.
      subscription.catch(() => {
        if (queue.subscription === subscription) queue.subscription = undefined;
      });
    }
    return subscription;
  }

  /**
   * Takes `waiter` out of a key's queue (`grantedTtl` > 0 when it got the
   * lock) and wakes the next head. A grant that reached the waiter too late
   * (it gave up meanwhile) goes to the next local waiter, or is released;
   * the last waiter of a key gives this process's place in line up.
   */
  private leave(queue: KeyQueue, waiter: LockWaiter, grantedTtl: number): void {
    queue.others.delete(waiter);
    const index = queue.waiters.indexOf(waiter);
    if (index >= 0) queue.waiters.splice(index, 1);
    const late = grantedTtl === 0 ? waiter.granted : undefined;
    // NOTE: a lock passed to the waiter is released like any other, which
    // passes it on to the next local waiter when there is one.
    if (late instanceof Lock) this.dropPassed(waiter);
    else if (late && !this.give(queue, late))
      this.releaseQuietly([queue.key], late.token);
    const head = index === 0 ? queue.waiters[0] : undefined;
    // NOTE: a queued head asks at once, to take this process's next place in
    // line, unless a local handoff left that place in line (then it renews it
    // on time); a notice-driven head whose predecessor was just granted the
    // lock sleeps until a notice or the new lease's end.
    const refusedAt = queue.ticket?.refusedAt;
    if (head && grantedTtl > 0 && !this.queueing) head.wakeIn(grantedTtl);
    else if (
      head &&
      grantedTtl > 0 &&
      waiter.granted instanceof Lock &&
      refusedAt !== undefined
    )
      head.wakeIn(
        Math.max(0, refusedAt + TICKET_REFRESH_MS - performance.now()),
      );
    else head?.wake();
    if (queue.waiters.length === 0 && queue.ticket)
      this.retireTicket(queue.key, queue.ticket.token);
    if (
      queue.waiters.length === 0 &&
      queue.others.size === 0 &&
      this.queues.get(queue.key) === queue
    ) {
      this.queues.delete(queue.key);
      queue.subscription?.then((unsubscribe) => unsubscribe(), noop);
    }
  }

  /**
   * A release of `storeKey` (`local`: made in this process) wakes its
   * waiters. NOTE: ids only drop the pub/sub copy of a notice already seen,
   * matched exactly, never as a high-water mark: a quorum store's ids come
   * from several masters' clocks and need not grow (a master whose clock
   * runs ahead announced an earlier release, and was left out of the next
   * one), and a notice dropped for a smaller id leaves its waiters asleep
   * on a free key until their backoff or the lease's end. A release made
   * here wakes whatever its id: the local waiters have no other notice of
   * it. A copy not recognised (a quorum store's local and announced ids may
   * differ) costs one refused attempt.
   */
  private onNotice(storeKey: string, id: number, local = false): void {
    const queue = this.queues.get(storeKey);
    if (!queue) return;
    const seen = queue.recentNotices;
    if (!seen.includes(id)) {
      if (seen.length >= RECENT_NOTICES) seen.shift();
      seen.push(id);
    } else if (!local) return;
    this.wakeWaiters(queue);
  }

  /** Wakes the waiters of a key that ask the store on a release notice. */
  private wakeWaiters(queue: KeyQueue): void {
    // NOTE: queued single-key waiters are granted by the store, not woken.
    if (!this.queueing) queue.waiters[0]?.wake();
    for (const waiter of queue.others) waiter.wake();
  }

  private grant(
    request: LockRequest,
    token: string,
    {
      fences,
      validityMs,
      unsettled,
    }: Extract<AcquireResult, { acquired: true }>,
    startedAt: number,
    pending?: LockGrant['pending'],
  ): Lock {
    if (this.closed) {
      // NOTE: granted after close() released everything: give it back.
      this.releaseQuietly(request.storeKeys, token);
      throw closedError();
    }
    const lock = new Lock(this.runtime, {
      keys: request.keys,
      storeKeys: request.storeKeys,
      token,
      fences,
      ttl: request.options.ttl,
      maxHold: request.options.maxHold,
      startedAt,
      validityMs,
      unsettled,
      pending,
    });
    if (!pending && lock.remainingTime <= 0) {
      // NOTE: answered after the lease would have ended (Redis far too
      // slow): no lock to hand out; whatever lease is left is given back.
      this.releaseQuietly(request.storeKeys, token);
      throw new LateGrantError(
        `the grant came after its ${request.options.ttl} ms lease would have ended`,
      );
    }
    this.held.set(token, lock);
    if (this.held.size > this.sweepAbove) this.sweepHeld();
    // NOTE: a lock from the store (not passed on in this process) ends the
    // key's streak of local handoffs.
    if (!pending && request.storeKeys.length === 1)
      this.streaks.delete(request.storeKeys[0]);
    if (request.options.autoRenew) lock.startRenewal();
    return lock;
  }

  /** A lock from a grant the store's queue made to this process's ticket. */
  private grantQueued(request: LockRequest, granted: QueuedGrant): Lock {
    // NOTE: the store starts a queued grant's lease short (GRANT_LEASE_MS),
    // or with the ttl of the ticket, which may differ from this waiter's:
    // validity counts the lease actually granted; renewals use this
    // waiter's ttl, and a lock that does not renew gets it once.
    const lock = this.grant(
      request,
      granted.token,
      { acquired: true, fences: [granted.fence], validityMs: granted.ttl },
      granted.startedAt,
    );
    if (!request.options.autoRenew && granted.ttl < request.options.ttl)
      lock.topUp();
    return lock;
  }

  /**
   * Releases `lock`, or, while this process has a waiter for its key and
   * fewer than `localHandoffs` handoffs in a row, passes it to that waiter
   * (never on a retried release: see `Lock.passable`).
   *
   * A pass is pipelined: the waiter gets its lock at once (a new token, the
   * fence plus one) while the store moves the lease to that token. Until the
   * store answers, the new lock is trusted only as long as the old one was
   * (the key is held by the old lease or, once moved, by the new one), and
   * it cannot be extended, released or passed on again: so the store sees
   * every call in order, and each pass runs a round trip after the grant
   * before it, which keeps fences below the server clock. A refusal
   * (`expired`, `not-owner`) marks the new lock lost and rejects this
   * release; no answer rejects this release and leaves the new lock with
   * the old validity. Either way the old lock is done: its token is never
   * used again, since a retried release could free the key under the new
   * holder.
   */
  private releaseLock(lock: Lock): Promise<LockOutcome> {
    const key = lock.storeKeys.length === 1 ? lock.storeKeys[0] : undefined;
    const queue =
      this.handsOff && key !== undefined && !this.closed
        ? this.queues.get(key)
        : undefined;
    const streak = (key !== undefined && this.streaks.get(key)) || 0;
    const next =
      queue &&
      streak < this.localHandoffs &&
      lock.passable &&
      lock.remainingTime >= PASS_MIN_VALIDITY_MS
        ? queue.waiters.find((waiter) => !waiter.granted && !waiter.cancelled)
        : undefined;
    if (!queue || !next) {
      if (key !== undefined) this.streaks.delete(key);
      return this.store.release(lock.storeKeys, lock.token).then(
        (outcome) => {
          this.onReleased(lock, outcome === 'ok');
          return outcome;
        },
        (error: unknown) => {
          // NOTE: a release that got no answer may still run (and does,
          // once a stalled server thaws): the local waiters hear of it from
          // nobody else when no refused attempt marked the key, and would
          // sleep until the lease's end. Woken, they ask the store, which
          // knows; the id is not recorded, so the release's own notice
          // still wakes them if it comes.
          for (const key of lock.storeKeys) {
            const waiting = this.queues.get(key);
            if (waiting) this.wakeWaiters(waiting);
          }
          throw error;
        },
      );
    }
    const token = createLockToken();
    const ttl = next.request.options.ttl;
    const sentAt = performance.now();
    const validUntil = sentAt + lock.remainingTime;
    const handoff = this.passLease(
      queue.key,
      lock.token,
      token,
      ttl,
      validUntil,
    );
    lock.passedOn();
    this.held.delete(lock.token);
    this.streaks.set(queue.key, streak + 1);
    // NOTE: a handoff while no other process is queued for the key (and no
    // multi-key waiter of this process wants it) is not counted: the bound
    // exists to give others their turn. The count is settled before the new
    // lock can be released (that waits for this).
    const confirmed = handoff.then(
      (result): HandoffResult => {
        if (
          result.outcome === 'ok' &&
          result.contended === false &&
          queue.others.size === 0
        )
          this.streaks.set(queue.key, streak);
        return result;
      },
      () => undefined,
    );
    const passed = this.grant(
      next.request,
      token,
      { acquired: true, fences: [lock.fence + 1], validityMs: ttl },
      sentAt,
      { validUntil, confirmed },
    );
    next.granted = passed;
    next.wake();
    return handoff.then((result) => result.outcome);
  }

  /**
   * The store's handoff of `key` from `token` to `nextToken`, sent again
   * while the store does not answer and the lease lasts (`validUntil`): a
   * handoff that never ran would leave the old lease blocking the key for
   * its whole ttl, and a resent one answers the same (the store finds
   * `nextToken` holding the key).
   */
  private async passLease(
    key: string,
    token: string,
    nextToken: string,
    ttl: number,
    validUntil: number,
  ): Promise<HandoffResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.queueing!.handOff!(key, token, nextToken, ttl);
      } catch (error) {
        const delay = 50 * attempt;
        if (
          attempt >= 3 ||
          this.closed ||
          !(error instanceof LockBackendUnavailableError) ||
          performance.now() + delay >= validUntil
        )
          throw error;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  /**
   * Stops tracking a lost lock once no lease of its token can be left in
   * the store: close() releases it until then. NOTE: a lost lock may still
   * own a lease (an extend or handoff answered after its validity ran out,
   * the other keys of a multi-key lock found partly taken, a timed-out
   * command that still ran), which lasts at most its ttl from the last
   * command, sent no later than now; the margin covers a command still on
   * its way.
   */
  private forgetLost(lock: Lock, leaseMs: number): void {
    if (this.closed) return;
    setTimeout(
      () => {
        if (this.held.get(lock.token) === lock) this.held.delete(lock.token);
      },
      Math.min(leaseMs + FORGET_MARGIN_MS, MAX_TIMER_DELAY),
    ).unref();
  }

  /**
   * Stops tracking the locks whose leases are over for good: a lock taken
   * for its ttl and never released (a throttle, a lease left to run out) is
   * otherwise kept until close(). A lost lock is left to forgetLost, and one
   * with a command that got no answer (it may still run on a stalled
   * server) to its release or close(). NOTE: swept when `held` has doubled
   * since the last sweep, so each grant pays O(1) on average and no lock
   * needs a timer of its own.
   */
  private sweepHeld(): void {
    const now = performance.now();
    for (const [token, lock] of this.held)
      if (!lock.lostReason && now > lock.leaseGoneBy + FORGET_MARGIN_MS)
        this.held.delete(token);
    this.sweepAbove = Math.max(SWEEP_MIN_LOCKS, 2 * this.held.size);
    // NOTE: a streak of local handoffs ends with the last lock of the chain;
    // one left to run out never releases, which is what ends it otherwise.
    if (this.streaks.size === 0) return;
    const chained = new Set<string>();
    for (const lock of this.held.values())
      if (lock.storeKeys.length === 1) chained.add(lock.storeKeys[0]);
    for (const key of this.streaks.keys())
      if (!chained.has(key)) this.streaks.delete(key);
  }

  private onReleased(lock: Lock, freed: boolean): void {
    this.held.delete(lock.token);
    if (!freed) return;
    // NOTE: wake local waiters now rather than after the pub/sub round trip;
    // the same notice arriving over pub/sub later is dropped by its id.
    lock.storeKeys.forEach((key, index) =>
      this.onNotice(key, lock.fences[index], true),
    );
  }
}

const QUEUE = Object.freeze({ queue: true });

/** How many release notice ids a key's queue remembers (see onNotice). */
const RECENT_NOTICES = 4;
/** How long after its ttl a lost lock is still released by close(). */
const FORGET_MARGIN_MS = 2000;
/** `held` is not swept below this size (see sweepHeld). */
const SWEEP_MIN_LOCKS = 1024;

/**
 * A lock is passed on ahead of the store's answer only while it has this much
 * validity left (the passed-on lock is trusted no longer than the old one
 * until the answer comes); closer to its end, the release goes to the line.
 */
const PASS_MIN_VALIDITY_MS = 100;
/** The least validity a ttl must leave after its drift allowance. */
const MIN_VALIDITY_MS = 5;

function isQueueingStore(store: LockStore): store is QueueingLockStore {
  const candidate = store as Partial<QueueingLockStore>;
  return (
    typeof candidate.onGrant === 'function' &&
    typeof candidate.leaveQueue === 'function'
  );
}

/**
 * `taken`, or a {@link LockAbortedError} as soon as `signal` aborts; a lock
 * that `taken` still gives after that is released.
 */
function abortable(
  taken: Promise<Lock>,
  signal: AbortSignal,
  keys: readonly string[],
): Promise<Lock> {
  return new Promise((resolve, reject) => {
    let aborted = false;
    const onAbort = () => {
      aborted = true;
      reject(new LockAbortedError(keys, { cause: signal.reason }));
    };
    signal.addEventListener('abort', onAbort, { once: true });
    taken.then(
      (lock) => {
        signal.removeEventListener('abort', onAbort);
        if (aborted) lock.release().catch(noop);
        else resolve(lock);
      },
      (error: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(error as Error);
      },
    );
  });
}

/**
 * Records when the holder's lease ends, by a refusal's `retryAfterMs`
 * (`Infinity`: the key has no expiry, -1).
 */
function noteLeaseEnd(queue: KeyQueue, retryAfterMs: number): void {
  if (retryAfterMs > 0) queue.leaseEndsAt = performance.now() + retryAfterMs;
  else if (retryAfterMs < 0) queue.leaseEndsAt = Infinity;
}

/** `fn(lock)` as a promise, a synchronous throw included. */
function settle<T>(fn: (lock: Lock) => T | Promise<T>, lock: Lock): Promise<T> {
  try {
    return Promise.resolve(fn(lock));
  } catch (error) {
    return Promise.reject(error as Error);
  }
}

/** The innermost lock of the chain that holds `key`. */
function holderOf(
  context: LockContext | undefined,
  key: string,
): Lock | undefined {
  for (let at = context; at; at = at.outer)
    if (at.current.keys.includes(key)) return at.current;
  return undefined;
}

function sameOptions(a: LockOptions, b: LockOptions): boolean {
  return (
    a.ttl === b.ttl &&
    a.waitTimeout === b.waitTimeout &&
    a.maxHold === b.maxHold &&
    a.autoRenew === b.autoRenew &&
    a.signal === b.signal &&
    a.retry?.baseDelay === b.retry?.baseDelay &&
    a.retry?.maxDelay === b.retry?.maxDelay
  );
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
  // NOTE: a lease from MIN_TTL_MS to the longest Node timer (2^31-1 ms,
  // about 24 days); waits and hold caps may be Infinity.
  assertDuration(resolved.ttl, `${label}.ttl`, MIN_TTL_MS, MAX_TIMER_DELAY);
  assertDuration(resolved.waitTimeout, `${label}.waitTimeout`, 0);
  assertDuration(resolved.maxHold, `${label}.maxHold`, 1);
  assertDuration(resolved.baseDelay, `${label}.retry.baseDelay`, 0);
  assertDuration(resolved.maxDelay, `${label}.retry.maxDelay`, 0);
  return resolved;
}

/**
 * A grant answered after its lease would have ended: no lock (it was given
 * back). A waiter with time left asks again; other callers get it as the
 * {@link LockBackendUnavailableError} it is.
 */
class LateGrantError extends LockBackendUnavailableError {}

function closedError(): LockManagerClosedError {
  return new LockManagerClosedError();
}
