/**
 * The contract every lock backend implements (a single Redis, a quorum of
 * Redis masters, memory). Stores are deliberately small: one round trip per
 * operation, all-or-nothing over the keys given, answers that say exactly
 * what happened. Waiting, renewal, reentrancy and validity accounting live in
 * the engine, once, above every store.
 *
 * Keys given to a store are already prefixed and bounded store keys.
 *
 * A store may also keep a fair wait queue per key ({@link QueueingLockStore}):
 * then a release hands the lock straight to the first waiter in line instead
 * of letting every waiter race for it.
 */
export interface LockStore {
  /**
   * Takes every key for `token` with a lease of `ttlMs`, or none of them.
   * Re-running the same call (a command resent after a reconnect) must give
   * the same answer: a key already held by `token` counts as granted.
   */
  acquire(
    keys: readonly string[],
    token: string,
    ttlMs: number,
    options?: AcquireOptions,
  ): Promise<AcquireResult>;

  /**
   * Sets the lease of every key to `ttlMs` if `token` still holds all of them;
   * never revives a lease that has ended.
   */
  extend(
    keys: readonly string[],
    token: string,
    ttlMs: number,
  ): Promise<LockOutcome>;

  /**
   * Releases every key that `token` holds and wakes the waiters of each one
   * (or, in a queueing store, grants the key to the next ticket in line).
   * Releasing again with the same token answers `expired` and changes
   * nothing.
   */
  release(keys: readonly string[], token: string): Promise<LockOutcome>;

  /**
   * Calls `listener` whenever one of `keys` is released and nobody was queued
   * for it, with a notice id (the released grant's fencing token) that lets
   * listeners drop duplicates. Resolves once notices are live; the returned
   * function stops them.
   */
  subscribe(
    keys: readonly string[],
    listener: ReleaseListener,
  ): Promise<() => void>;

  /** Closes what the store opened. Clients passed in by the user stay open. */
  close(): Promise<void>;
}

/** How an acquire treats contention. */
export interface AcquireOptions {
  /**
   * In a queueing store, a refused single-key request takes a place in the
   * key's wait queue with this token as its ticket (keeping the place its
   * process already has). Stores without a queue ignore it.
   */
  readonly queue?: boolean;
}

/**
 * A store with a fair wait queue per key. One lock manager per store: the
 * queue holds one place per store instance (per process), and the manager
 * decides which of its own waiters uses it.
 */
export interface QueueingLockStore extends LockStore {
  /**
   * Calls `listener` for every grant made to a ticket: a release (or an
   * expired lease found by another attempt) handed the key to the first
   * ticket in line. Listeners ignore tokens they did not issue. Resolves
   * once grants are live; the returned function stops them.
   */
  onGrant(listener: GrantListener): Promise<() => void>;

  /**
   * Takes the ticket `token` out of the key's queue. If it was granted in the
   * meantime, the grant is handed on at once, as by a release.
   */
  leaveQueue(key: string, token: string): Promise<void>;

  /**
   * Passes the lease that `token` holds on `key` straight to `nextToken` (a
   * waiter in the same process), with a lease of `ttlMs` and the fence plus
   * one, in one step: the key is never free in between, so nobody in line
   * takes it, and whoever waited keeps waiting (the key stays marked). This
   * store instance's own place in the key's queue, if it has one, moves to
   * the back: the handoff was its turn. When
   * `token` holds no lease on the key any more (`expired`) or another owner
   * does (`not-owner`), nothing changes. Re-running the same call (resent
   * after a reconnect) finds `nextToken` holding the key and answers `ok`
   * with its fence. Optional: without it, every release goes through the
   * queue.
   *
   * NOTE: the engine gives the waiter the lock, with the fence plus one,
   * before the answer comes; a store that answers another fence makes the
   * engine treat the passed-on lock as lost.
   */
  handOff?(
    key: string,
    token: string,
    nextToken: string,
    ttlMs: number,
  ): Promise<HandoffResult>;
}

/** What a {@link QueueingLockStore.handOff} did: the new holder's fence, or why nothing changed. */
export type HandoffResult =
  | {
      readonly outcome: 'ok';
      readonly fence: number;
      /**
       * Whether another client (process) is queued for the key; when it is
       * not (`false`), the engine does not count the handoff against
       * `localHandoffs`. Absent: assumed queued.
       */
      readonly contended?: boolean;
    }
  | { readonly outcome: 'expired' | 'not-owner' };

/** A grant made to a queued ticket. */
export interface GrantNotice {
  readonly key: string;
  readonly token: string;
  readonly fence: number;
  /** The lease the grant started, in ms (the ticket's ttl). */
  readonly ttl: number;
  /**
   * `performance.now()` at or before the grant when the store knows it (an
   * in-process store). Otherwise the engine bounds the grant time from the
   * fence and the `serverTime` of an earlier refusal (see {@link AcquireResult}).
   */
  readonly grantedAt?: number;
}

/** Called for each grant made to a queued ticket. */
export type GrantListener = (grant: GrantNotice) => void;

/** Called with the store key and a notice id when a lock is released. */
export type ReleaseListener = (key: string, noticeId: string) => void;

/**
 * The answer to an acquire. On success, one fencing token per key (same
 * order), and optionally `validityMs`: a lease shorter than the ttl asked
 * for. The engine counts validity from when it sent the acquire (minus its
 * drift allowance), so a store must not subtract the time the acquire took
 * (a quorum store reports nothing). On contention, how long until the
 * longest competing lease ends (-1 when unknown: a key without expiry), and
 * the store's clock in microseconds (the fence clock) when it decided.
 * `unsettled`: some node did not answer (a quorum store granted without
 * it), so a lease may still be set there later, until the lock is released.
 */
export type AcquireResult =
  | {
      readonly acquired: true;
      readonly fences: readonly number[];
      readonly validityMs?: number;
      readonly unsettled?: boolean;
    }
  | {
      readonly acquired: false;
      readonly retryAfterMs: number;
      readonly serverTime?: number;
    };

/**
 * What a release or an extend found: `ok` (done), `expired` (no lease for
 * this token any more, nobody else holds it) or `not-owner` (another token
 * holds at least one key).
 */
export type LockOutcome = 'ok' | 'expired' | 'not-owner';
