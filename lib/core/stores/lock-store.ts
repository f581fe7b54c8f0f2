/**
 * The contract every lock backend implements (a single Redis, a quorum of
 * Redis masters, memory). Stores are deliberately small: one round trip per
 * operation, all-or-nothing over the keys given, answers that say exactly
 * what happened. Waiting, renewal, reentrancy and validity accounting live in
 * the engine, once, above every store.
 *
 * Keys given to a store are already prefixed and bounded store keys.
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
   * Releases every key that `token` holds and wakes the waiters of each one.
   * Releasing again with the same token answers `released` again and changes
   * nothing.
   */
  release(keys: readonly string[], token: string): Promise<LockOutcome>;

  /**
   * Calls `listener` whenever one of `keys` is released, with a notice id (the
   * released grant's fencing token) that lets listeners drop duplicates.
   * Resolves once notices are live; the returned function stops them.
   */
  subscribe(
    keys: readonly string[],
    listener: ReleaseListener,
  ): Promise<() => void>;

  /** Closes what the store opened. Clients passed in by the user stay open. */
  close(): Promise<void>;
}

/** Called with the store key and a notice id when a lock is released. */
export type ReleaseListener = (key: string, noticeId: string) => void;

/**
 * The answer to an acquire. On success, one fencing token per key (same
 * order); a store that needs more time than the lease allows (a quorum) may
 * report a shorter `validityMs`; `othersWaiting` says that other processes
 * wait for the key, so the holder should not favour its own waiters. On contention, how long until the longest
 * competing lease ends (-1 when unknown: a key without expiry).
 */
export type AcquireResult =
  | {
      readonly acquired: true;
      readonly fences: readonly number[];
      readonly validityMs?: number;
      /** Another process was seen waiting for the (single) key lately. */
      readonly othersWaiting?: boolean;
    }
  | { readonly acquired: false; readonly retryAfterMs: number };

/**
 * What a release or an extend found: `ok` (done), `expired` (no lease for
 * this token any more, nobody else holds it) or `not-owner` (another token
 * holds at least one key).
 */
export type LockOutcome = 'ok' | 'expired' | 'not-owner';
