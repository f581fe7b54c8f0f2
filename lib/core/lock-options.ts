import { LockError } from './errors/lock-error.js';
import type { LockStore } from './stores/lock-store.js';

/** Retry schedule while waiting for a held lock. */
export interface RetryOptions {
  /**
   * First backoff ceiling in ms; each retry doubles it up to `maxDelay`, and
   * the actual delay is drawn uniformly below the ceiling (full jitter).
   * @default 50
   */
  baseDelay?: number;
  /**
   * Largest backoff ceiling in ms.
   * @default 1000
   */
  maxDelay?: number;
}

/** Per-call lock options; each defaults to the manager's `defaults`. */
export interface LockOptions {
  /**
   * Lease length in ms. A holder that dies loses the lock after this long;
   * renewal keeps a live holder's lease from running out.
   * @default 30000
   */
  ttl?: number;
  /**
   * How long `acquire` and `using` wait for a held lock, in ms, before
   * failing with {@link LockWaitTimeoutError}. `0` makes one attempt only.
   * @default 10000
   */
  waitTimeout?: number;
  /** Backoff between retries while waiting (release notices usually come first). */
  retry?: RetryOptions;
  /**
   * Total time in ms a lock may be held with renewal. Past it, renewal stops
   * and the lease runs out, so a holder that is alive but stuck cannot keep
   * the lock forever.
   * @default 600000
   */
  maxHold?: number;
  /**
   * Renew the lease at a third of the ttl while the lock is held. `using`
   * always renews; `acquire` renews only when this is set.
   * @default false
   */
  autoRenew?: boolean;
  /** Gives up waiting when aborted ({@link LockAbortedError}). */
  signal?: AbortSignal;
}

/** Options of a {@link LockManager}. */
export interface LockManagerOptions {
  /** The backend: `RedisLockStore`, `MemoryLockStore`, or your own. */
  store: LockStore;
  /**
   * Prepended to every key in the store.
   * @default 'lock:'
   */
  prefix?: string;
  /**
   * Keys longer than this are shortened to a head plus their SHA-256.
   * @default 256
   */
  maxKeyLength?: number;
  /**
   * Share of the ttl (plus 2 ms) subtracted from a lease's validity to allow
   * for clock drift between this process and the store.
   * @default 0.01
   */
  driftFactor?: number;
  /** Defaults for every call's {@link LockOptions}. */
  defaults?: Omit<LockOptions, 'signal'>;
  /**
   * With a queueing store (Redis, memory): how many times in a row a lock
   * released in this process goes straight to the next waiter for the same
   * key in this process (at once; the store moves the lease meanwhile)
   * before a release hands it to the store's line, where other processes
   * wait. Handoffs while no other process is in line are not counted
   * (Redis tells; the memory store does not, so all count). Passing a lock
   * along inside a process skips a trip through the line (a pub/sub message
   * and a wake-up of another process), which raises throughput on a busy
   * key; the bound keeps other processes' waits short: they wait for at
   * most this many extra grants per turn of a process. 0: every release
   * goes through the line (strict first come, first served across processes).
   * @default 8
   */
  localHandoffs?: number;
  /**
   * How long, in ms, close() waits for work still running under `using`
   * (the decorator's methods among them) before it gives up on it. Its locks
   * keep renewing meanwhile and new locks are refused: an instance shutting
   * down must not let another take a key while its own work on it still
   * runs. Work still running after that loses its lock (its signal aborts)
   * and its lease is left in the store to run out (at most its ttl), never
   * released under it. Locks held outside `using` are released once the
   * wait is over.
   * 0: no wait.
   * @default 10000
   */
  closeTimeout?: number;
}

/**
 * The longest delay a Node timer takes (2^31-1 ms, about 24 days): a lease
 * must fit in one, and a longer wait is as good as endless. @internal
 */
export const MAX_TIMER_DELAY = 2 ** 31 - 1;

/**
 * The shortest ttl, in ms: a lease must outlast its drift allowance
 * (`ttl * driftFactor + 2` ms) with room for a round trip to Redis, or no
 * grant would ever be valid. @internal
 */
export const MIN_TTL_MS = 10;

/** The defaults, merged in one place by the manager. */
export const DEFAULT_LOCK_OPTIONS = Object.freeze({
  ttl: 30_000,
  waitTimeout: 10_000,
  maxHold: 600_000,
  autoRenew: false,
  retry: Object.freeze({ baseDelay: 50, maxDelay: 1000 }),
});

/** Fully resolved options of one call. @internal */
export interface ResolvedLockOptions {
  ttl: number;
  waitTimeout: number;
  maxHold: number;
  autoRenew: boolean;
  baseDelay: number;
  maxDelay: number;
  signal?: AbortSignal;
}

/**
 * Throws a {@link LockError} naming `name` unless `value` is a number of
 * milliseconds from `min` to `max`. @internal
 */
export function assertDuration(
  value: number,
  name: string,
  min: number,
  max = Infinity,
): void {
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

/**
 * A drift factor, `undefined` for the default (0.01): a share of the ttl
 * from 0 to below 1. NOTE: a negative one would trust a lock past its lease
 * (two holders), and one of 1 or more would find every grant too late.
 * @internal
 */
export function driftFactorOf(value: unknown): number {
  const factor = value ?? 0.01;
  if (typeof factor !== 'number' || !(factor >= 0 && factor < 1))
    throw new LockError(
      `driftFactor must be a number from 0 to below 1 (got ${String(value)}).`,
    );
  return factor;
}

/**
 * Whether `value` is a `closeTimeout` (whole ms from 0 to the longest timer
 * Node keeps); `CLOSE_TIMEOUT_RULE` says it in the errors of the engine and
 * of the Nest module alike. @internal
 */
export function isCloseTimeout(value: unknown): value is number {
  return (
    Number.isInteger(value) &&
    (value as number) >= 0 &&
    (value as number) <= MAX_TIMER_DELAY
  );
}

/** @internal */
export const CLOSE_TIMEOUT_RULE = `must be a whole number of ms from 0 to ${MAX_TIMER_DELAY}`;
