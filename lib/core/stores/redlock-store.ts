import type { Redis, RedisOptions } from 'ioredis';
import { LockBackendUnavailableError } from '../errors/lock-backend-unavailable.error.js';
import { LockError } from '../errors/lock-error.js';
import type {
  AcquireResult,
  LockOutcome,
  LockStore,
  ReleaseListener,
} from './lock-store.js';
import { RedisLockStore } from './redis-lock-store.js';
import { callAsync } from '../call-async.js';
import { driftFactorOf } from '../lock-options.js';
import { noop } from '../noop.js';

/**
 * One independent Redis master of a {@link RedlockStore}: a URL (the store
 * opens and closes the connections), an ioredis `Redis` client you own, or a
 * {@link LockStore} you own (usually a `RedisLockStore`). Clients and stores
 * you pass are never closed by the quorum store.
 */
export type RedlockMaster = string | Redis | LockStore;

/** How a {@link RedlockStore} reaches its masters. */
export interface RedlockStoreOptions {
  /**
   * The independent masters (no replication between them). At least one;
   * use an odd number, three or five: the quorum is a majority
   * (`floor(n / 2) + 1`), so four masters survive the loss of one, like three.
   */
  masters: readonly RedlockMaster[];
  /** ioredis options for the clients of masters given as URLs. */
  redisOptions?: RedisOptions;
  /**
   * Upper bound, in ms, for each operation on each master given as a URL or
   * a client (see `RedisLockStoreOptions.operationTimeout`): a quorum that
   * does not answer fails within about this long.
   * @default 1000
   */
  operationTimeout?: number;
  /**
   * Clock drift allowance as a fraction of the ttl (plus 2 ms): a grant or an
   * extension whose quorum answered later than `ttl - ttl * driftFactor - 2`
   * ms after it was sent is worthless and counts as failed. Keep it equal to
   * the `LockManager`'s `driftFactor`.
   * @default 0.01
   */
  driftFactor?: number;
}

/**
 * After a quorum granted, how long, in ms, an acquire still waits for the
 * other masters. NOTE: prompt answers from every master make the fence and
 * the release notices deterministic (both are maxima over the masters that
 * took part); a frozen master costs each acquire this long, not its timeout.
 */
const STRAGGLER_GRACE_MS = 10;
/** A release's notices from the masters arrive within this many ms of each other. */
const NOTICE_WINDOW_MS = 1000;
/** A failed master's subscription is asked again after 100 ms, doubling to 2 s. */
const RESUBSCRIBE_MIN_MS = 100;
const RESUBSCRIBE_MAX_MS = 2000;

type Grant = Extract<AcquireResult, { acquired: true }>;
type Refusal = Extract<AcquireResult, { acquired: false }>;

/**
 * A lock store over several independent Redis masters (the Redlock
 * algorithm): a lock is held when a majority of the masters granted it, so
 * locks stay available and exclusive while a minority of masters is down.
 * Each master is a {@link RedisLockStore}: every operation is one script
 * round trip per master, sent to all masters in parallel.
 *
 * - acquire: granted when a quorum granted and answered well within the ttl
 *   (before `ttl - drift`); otherwise the grants are released on every master
 *   and the answer is a refusal, or {@link LockBackendUnavailableError} when
 *   fewer than a quorum of masters answered at all.
 * - fences: the largest fence among the granting masters (see {@link acquire}).
 * - extend and release: `ok` when a quorum did it.
 * - notices: one per release, once every master (or, after a short grace, a
 *   quorum) announced it.
 *
 * Quorum stores do not keep wait queues: waiters race for each release.
 *
 * @example
 * const locks = new LockManager({
 *   store: new RedlockStore({
 *     masters: ['redis://10.0.0.1:6379', 'redis://10.0.0.2:6379', 'redis://10.0.0.3:6379'],
 *   }),
 * });
 */
export class RedlockStore implements LockStore {
  /** One store per master, in the order given. */
  readonly stores: readonly LockStore[];
  /** How many masters must agree: a majority. */
  readonly quorum: number;
  /** Acquires that have a quorum and give the other masters a short grace. */
  private readonly stragglers = new StragglerWatch();
  private readonly owned: readonly LockStore[];
  private readonly driftFactor: number;
  /** Acquires not decided yet: close() lets them finish (and give back) first. */
  private undecided = 0;
  private onDecided?: () => void;
  private closed = false;
  /** The one close(): every call shares it. */
  private closing?: Promise<void>;

  constructor(options: RedlockStoreOptions) {
    const masters = options?.masters;
    if (!Array.isArray(masters) || masters.length === 0)
      throw new LockError(
        'RedlockStore needs at least one master in `masters` (three or five independent Redis servers are usual).',
      );
    // NOTE: checked before any connection opens. An empty or missing URL
    // would otherwise become ioredis's default (127.0.0.1:6379), and a drift
    // allowance of the whole lease turns every grant into a refusal.
    for (const master of masters as unknown[])
      if (!isMaster(master))
        throw new LockError(
          `Each RedlockStore master must be a Redis URL, an ioredis client or a LockStore (got ${describeMaster(master)}).`,
        );
    // NOTE: one server listed twice would count as two votes: a quorum of
    // "three" masters would then be lost with that one server, and held by
    // it alone with a second one.
    const seen = new Set<unknown>();
    for (const master of masters) {
      const server = serverOf(master);
      if (seen.has(server))
        throw new LockError(
          `RedlockStore lists the same master twice (${typeof server === 'string' ? server : 'one object'}): every master must be a separate Redis server.`,
        );
      seen.add(server);
    }
    this.driftFactor = driftFactorOf(options.driftFactor);
    const owned: LockStore[] = [];
    this.stores = masters.map((master: RedlockMaster) => {
      if (isLockStore(master)) return master;
      const store = new RedisLockStore({
        ...(typeof master === 'string'
          ? { url: master, redisOptions: options.redisOptions }
          : { client: master }),
        operationTimeout: options.operationTimeout,
      });
      owned.push(store);
      return store;
    });
    this.owned = owned;
    this.quorum = Math.floor(masters.length / 2) + 1;
  }

  /**
   * Sends the acquire to every master at once. Granted when a quorum granted
   * within the validity; the answer waits up to a short grace for the other
   * masters, so that prompt ones count too.
   *
   * Fences: each master's fence is its clock in microseconds at its grant;
   * the lock's fence is the largest among the masters that granted before
   * the answer. Any two quorums share a master, and on that master a later
   * grant's fence is larger than an earlier one's. So a later holder's fence
   * is larger than an earlier holder's whenever the masters' clocks differ by
   * less than the time from the earlier grant to the later one (at least the
   * earlier holder's hold plus a round trip, or its whole lease). Masters
   * whose clocks differ by more than that can give a fence smaller than the
   * previous holder's: unlike with a single Redis, where only one clock must
   * not step back, this guarantee rests on the masters' clocks agreeing.
   *
   * NOTE: the answer carries no `validityMs`. The engine counts validity from
   * the moment it sent the acquire, and every master's lease started after
   * that moment, so the quorum holds the lock at least until then plus the
   * ttl (less the engine's drift). The time the quorum took to answer is
   * already spent from that validity when the lock is handed out; reporting
   * `ttl - elapsed` too would subtract it twice.
   */
  acquire(
    keys: readonly string[],
    token: string,
    ttlMs: number,
  ): Promise<AcquireResult> {
    if (this.closed) return Promise.reject(closedError());
    this.undecided++;
    return new Promise<AcquireResult>((resolve, reject) => {
      const round = new AcquireRound(
        this,
        this.stragglers,
        keys,
        token,
        ttlMs,
        resolve,
        reject,
      );
      // NOTE: queue requests are not passed on: a queue on each master would
      // hand the key to different tickets on different masters. A master
      // that throws instead of rejecting is one that failed.
      for (const store of this.stores)
        callAsync(() => store.acquire(keys, token, ttlMs)).then(
          round.answer,
          round.fail,
        );
    });
  }

  /**
   * Extends on every master: `ok` when a quorum extended before `ttl - drift`
   * passed; otherwise what most of the other masters said (`not-owner` on a
   * tie), or {@link LockBackendUnavailableError} when fewer than a quorum
   * answered.
   */
  extend(
    keys: readonly string[],
    token: string,
    ttlMs: number,
  ): Promise<LockOutcome> {
    return new Promise((resolve, reject) => {
      const round = new OutcomeRound(this, 'extend', ttlMs, resolve, reject);
      for (const store of this.stores)
        callAsync(() => store.extend(keys, token, ttlMs)).then(
          round.answer,
          round.fail,
        );
    });
  }

  /**
   * Releases on every master: `ok` when a quorum released; `not-owner` when
   * some master has another owner's lease; else `expired`. Rejects with
   * {@link LockBackendUnavailableError} when fewer than a quorum answered.
   */
  release(keys: readonly string[], token: string): Promise<LockOutcome> {
    return new Promise((resolve, reject) => {
      const round = new OutcomeRound(this, 'release', 0, resolve, reject);
      for (const store of this.stores)
        callAsync(() => store.release(keys, token)).then(
          round.answer,
          round.fail,
        );
    });
  }

  /**
   * Subscribes on every master and resolves once a quorum of subscriptions is
   * live (a master that is down must not stall waiters, who also retry when
   * the holder's lease ends). Each release reaches `listener` once: when every
   * master announced it, or a short grace after a quorum did; its notice id is
   * the largest fence announced, which is the released grant's fence.
   */
  async subscribe(
    keys: readonly string[],
    listener: ReleaseListener,
  ): Promise<() => void> {
    if (this.closed) throw closedError();
    const relay = new NoticeRelay(listener, this.stores.length, this.quorum);
    let stopped = false;
    const timers = new Set<NodeJS.Timeout>();
    // NOTE: a master that throws instead of rejecting is one that failed
    // (the others' subscriptions still count, and are given up with them).
    const subscribeOn = (master: number) =>
      callAsync(() =>
        this.stores[master].subscribe(keys, (key, id) =>
          relay.notice(master, key, id),
        ),
      );
    const subscriptions = this.stores.map((_, master) => subscribeOn(master));
    // NOTE: a master whose subscription failed (down, restarting, slower
    // than the operation timeout) is asked again in the background for as
    // long as this subscription lasts: waiters may keep it for the life of
    // the process, and without that master's notices one more master out
    // would leave them deaf until leases run out.
    const keepTrying = (master: number, attempt: number): void => {
      subscriptions[master].catch(() => {
        if (stopped || this.closed) return;
        const timer = setTimeout(
          () => {
            timers.delete(timer);
            if (stopped || this.closed) return;
            subscriptions[master] = subscribeOn(master);
            keepTrying(master, attempt + 1);
          },
          Math.min(RESUBSCRIBE_MIN_MS * 2 ** attempt, RESUBSCRIBE_MAX_MS),
        );
        timer.unref();
        timers.add(timer);
      });
    };
    subscriptions.forEach((_, master) => keepTrying(master, 0));
    const unsubscribe = () => {
      stopped = true;
      relay.stop();
      for (const timer of timers) clearTimeout(timer);
      for (const subscription of subscriptions)
        subscription.then((stop) => stop(), noop);
    };
    try {
      await atLeast([...subscriptions], this.quorum);
    } catch (error) {
      unsubscribe();
      throw error;
    }
    return unsubscribe;
  }

  /**
   * Closes the stores it created for URLs and clients; stores and clients
   * you passed stay open. Every call settles when that is done.
   */
  close(): Promise<void> {
    // NOTE: one close for every caller: a second call would otherwise take
    // over the wait for undecided acquires and leave the first one hanging.
    return (this.closing ??= this.closeOnce());
  }

  private async closeOnce(): Promise<void> {
    this.closed = true;
    this.stragglers.finishAll();
    // NOTE: an acquire still undecided (masters split, the deciding one
    // slow) gives back what it took once it is decided: the masters' stores
    // must still be open then, or its grants block the key for the ttl.
    if (this.undecided > 0)
      await new Promise<void>((resolve) => (this.onDecided = resolve));
    await Promise.all(this.owned.map((store) => store.close()));
  }

  /** close() was called. @internal */
  get isClosing(): boolean {
    return this.closed;
  }

  /** An acquire was decided (its give-back, if any, already sent). @internal */
  decided(): void {
    if (--this.undecided === 0) this.onDecided?.();
  }

  /** The drift allowance for a lease of `ttl` ms. @internal */
  drift(ttl: number): number {
    return ttl * this.driftFactor + 2;
  }

  /** Releases by token on every master, in the background. @internal */
  releaseEverywhere(keys: readonly string[], token: string): void {
    // NOTE: sent now, behind the acquire on each master's connection (a
    // master's store never runs a token's release ahead of that token's
    // acquire sent before it), and before any later attempt with the token.
    for (const store of this.stores)
      callAsync(() => store.release(keys, token)).catch(noop);
  }
}

/** The state of one acquire across the masters. */
class AcquireRound {
  private pending: number;
  private grants = 0;
  /** The refusing masters' lease ends (Infinity: no expiry). */
  private refusals?: number[];
  private failures = 0;
  private error: unknown;
  private fences?: number[];
  /** The lease of each grant (the ttl unless the master reported less). */
  private leases?: number[];
  /** Some granting master said its own grant is unsettled. */
  private unsettledGrant = false;
  private serverTime?: number;
  private waiting = false;
  private done = false;
  private readonly startedAt = performance.now();

  constructor(
    private readonly owner: RedlockStore,
    private readonly stragglers: StragglerWatch,
    private readonly keys: readonly string[],
    private readonly token: string,
    private readonly ttl: number,
    private readonly resolve: (result: AcquireResult) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.pending = owner.stores.length;
  }

  readonly answer = (result: AcquireResult): void => {
    if (this.done) return;
    this.pending--;
    if (result.acquired) this.granted(result);
    else this.refused(result);
    this.check();
  };

  readonly fail = (error: unknown): void => {
    if (this.done) return;
    this.pending--;
    this.failures++;
    this.error ??= error;
    this.check();
  };

  private granted(grant: Grant): void {
    this.grants++;
    (this.leases ??= []).push(
      grant.validityMs === undefined
        ? this.ttl
        : Math.min(grant.validityMs, this.ttl),
    );
    if (grant.unsettled) this.unsettledGrant = true;
    if (!this.fences) this.fences = grant.fences.slice();
    else
      for (let i = 0; i < this.fences.length; i++)
        if (grant.fences[i] > this.fences[i]) this.fences[i] = grant.fences[i];
  }

  private refused(refusal: Refusal): void {
    const ends = refusal.retryAfterMs < 0 ? Infinity : refusal.retryAfterMs;
    (this.refusals ??= []).push(ends);
    const time = refusal.serverTime;
    if (time !== undefined && (this.serverTime ?? -1) < time)
      this.serverTime = time;
  }

  /** Decides as soon as the answer can no longer change. */
  private check(): void {
    const { quorum } = this.owner;
    if (this.pending === 0) return this.finish();
    if (this.grants >= quorum) {
      if (!this.waiting) this.stragglers.add(this);
      this.waiting = true;
      return;
    }
    if (this.grants + this.pending >= quorum) return;
    // NOTE: no grant is possible any more; whether this is contention or an
    // outage depends on how many masters answered.
    const answered = this.grants + (this.refusals?.length ?? 0);
    if (answered >= quorum || answered + this.pending < quorum) this.finish();
  }

  /** Answers with what the masters said so far. @internal */
  finish(): void {
    if (this.done) return;
    this.done = true;
    if (this.waiting) this.stragglers.delete(this);
    this.decide();
    this.owner.decided();
  }

  private decide(): void {
    const { owner, ttl } = this;
    const elapsed = performance.now() - this.startedAt;
    // NOTE: a master (a LockStore of yours) may grant a shorter lease than
    // the ttl: the lock lasts as long as a quorum of leases, which is the
    // quorum-th longest one.
    const validity = this.leases
      ? this.leases.sort((a, b) => b - a)[owner.quorum - 1]
      : undefined;
    // NOTE: a grant decided once close() began is given back: its holder
    // could not release it once the masters' stores are closed.
    if (
      !owner.isClosing &&
      this.grants >= owner.quorum &&
      elapsed < validity! - owner.drift(validity!)
    ) {
      this.resolve({
        acquired: true,
        fences: this.fences!,
        ...(validity! < ttl && { validityMs: validity }),
        ...((this.pending > 0 || this.failures > 0 || this.unsettledGrant) && {
          unsettled: true,
        }),
      });
      return;
    }
    owner.releaseEverywhere(this.keys, this.token);
    if (owner.isClosing) return this.reject(closedError());
    const answered = this.grants + (this.refusals?.length ?? 0);
    if (answered < owner.quorum) {
      this.reject(
        new LockBackendUnavailableError(
          `${answered} of ${owner.stores.length} Redis masters answered, ${owner.quorum} needed (${this.failures} failed)`,
          { cause: this.error },
        ),
      );
      return;
    }
    const refusal: Refusal = {
      acquired: false,
      retryAfterMs: this.retryAfter(),
      ...(this.serverTime !== undefined && { serverTime: this.serverTime }),
    };
    this.resolve(refusal);
  }

  /**
   * When a quorum may be free: the masters that did not refuse count as free
   * (those that failed or have not answered too), and the refusing masters
   * free up as their leases end, soonest first. -1 when a lease needed has
   * no expiry; 0 when a quorum granted too late (no holder to wait for).
   */
  private retryAfter(): number {
    const { quorum, stores } = this.owner;
    const ends = this.refusals ?? [];
    const needed = quorum - (stores.length - ends.length);
    if (this.grants >= quorum || needed <= 0) return 0;
    ends.sort((a, b) => a - b);
    const end = ends[needed - 1];
    return end === Infinity ? -1 : end;
  }
}

/**
 * The acquires that have a quorum and still wait for other masters, each
 * finished {@link STRAGGLER_GRACE_MS} after it joined unless its last master
 * answers first. NOTE: one timer for all of them, not one per acquire: on a
 * healthy set of masters nearly every acquire waits a few microseconds for
 * its last answer.
 */
class StragglerWatch {
  private readonly rounds = new Map<AcquireRound, number>();
  private timer?: NodeJS.Timeout;

  add(round: AcquireRound): void {
    this.rounds.set(round, performance.now() + STRAGGLER_GRACE_MS);
    this.timer ??= setTimeout(this.sweep, STRAGGLER_GRACE_MS);
  }

  delete(round: AcquireRound): void {
    this.rounds.delete(round);
  }

  /** Finishes every waiting acquire now (the store is closing). */
  finishAll(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const round of [...this.rounds.keys()]) round.finish();
  }

  /** Finishes the acquires whose grace ran out; they joined in deadline order. */
  private readonly sweep = (): void => {
    this.timer = undefined;
    const now = performance.now();
    for (const [round, deadline] of this.rounds) {
      if (deadline > now) {
        this.timer = setTimeout(this.sweep, deadline - now);
        return;
      }
      round.finish();
    }
  };
}

/** The state of one extend or release across the masters. */
class OutcomeRound {
  private pending: number;
  private ok = 0;
  private expired = 0;
  private notOwner = 0;
  private error: unknown;
  private done = false;
  private readonly startedAt = performance.now();

  constructor(
    private readonly owner: RedlockStore,
    private readonly kind: 'extend' | 'release',
    private readonly ttl: number,
    private readonly resolve: (outcome: LockOutcome) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.pending = owner.stores.length;
  }

  readonly answer = (outcome: LockOutcome): void => {
    if (this.done) return;
    this.pending--;
    if (outcome === 'ok') this.ok++;
    else if (outcome === 'expired') this.expired++;
    else this.notOwner++;
    this.check();
  };

  readonly fail = (error: unknown): void => {
    if (this.done) return;
    this.pending--;
    this.error ??= error;
    this.check();
  };

  private check(): void {
    const { quorum } = this.owner;
    if (this.ok >= quorum) return this.settle(this.extendedInTime());
    const answered = this.ok + this.expired + this.notOwner;
    if (answered + this.pending < quorum)
      return this.settle(
        new LockBackendUnavailableError(
          `${answered} of ${this.owner.stores.length} Redis masters answered, ${quorum} needed`,
          { cause: this.error },
        ),
      );
    if (this.pending > 0) return;
    // NOTE: the lock is lost only when too many masters said so for a
    // quorum to hold it. `ok` from some and a failure from others that could
    // make up a quorum is no answer (a frozen master of a quorum that held
    // it, the third never did): an outage, which renewal retries.
    const { length } = this.owner.stores;
    if (this.expired + this.notOwner <= length - quorum)
      return this.settle(
        new LockBackendUnavailableError(
          `${this.ok} of ${length} Redis masters did it and ${length - answered} did not answer, ${quorum} needed`,
          { cause: this.error },
        ),
      );
    this.settle(this.lost());
  }

  /** An extension that a quorum made too late is worth nothing. */
  private extendedInTime(): LockOutcome {
    if (this.kind === 'release') return 'ok';
    const elapsed = performance.now() - this.startedAt;
    return elapsed < this.ttl - this.owner.drift(this.ttl) ? 'ok' : 'expired';
  }

  /** No quorum acted: what the masters that did not say `ok` found. */
  private lost(): LockOutcome {
    if (this.kind === 'release')
      return this.notOwner > 0 ? 'not-owner' : 'expired';
    return this.notOwner > 0 && this.notOwner >= this.expired
      ? 'not-owner'
      : 'expired';
  }

  private settle(result: LockOutcome | Error): void {
    this.done = true;
    if (typeof result === 'string') this.resolve(result);
    else this.reject(result);
  }
}

/** The notices of one key's release, as they arrive from the masters. */
interface NoticeBatch {
  readonly startedAt: number;
  readonly masters: Set<number>;
  id: string;
  fence: number;
  timer?: NodeJS.Timeout;
}

/**
 * Turns the per-master notices of a release into one notice. Each master
 * announces its own fence for the released grant; the relay waits for every
 * master, or a short grace after a quorum, and passes on the largest fence,
 * which is the fence the quorum store reported for the grant.
 */
class NoticeRelay {
  private readonly batches = new Map<string, NoticeBatch>();
  private stopped = false;

  constructor(
    private readonly listener: ReleaseListener,
    private readonly masters: number,
    private readonly quorum: number,
  ) {}

  notice(master: number, key: string, id: string): void {
    if (this.stopped) return;
    const now = performance.now();
    let batch = this.batches.get(key);
    // NOTE: a lone notice long ago (a refused attempt giving back its
    // minority of grants) belongs to no release of a quorum. A batch that a
    // quorum announced is a release all the same, with its grace cut short:
    // passed on now, not dropped.
    if (batch && now - batch.startedAt > NOTICE_WINDOW_MS) {
      if (batch.masters.size >= this.quorum) this.flush(key, batch);
      else clearTimeout(batch.timer);
      batch = undefined;
    }
    if (!batch) {
      batch = { startedAt: now, masters: new Set(), id, fence: Number(id) };
      this.batches.set(key, batch);
    } else if (Number(id) > batch.fence) {
      batch.id = id;
      batch.fence = Number(id);
    }
    batch.masters.add(master);
    if (batch.masters.size === this.masters) this.flush(key, batch);
    else if (batch.masters.size >= this.quorum && !batch.timer) {
      const ready = batch;
      batch.timer = setTimeout(
        () => this.flush(key, ready),
        STRAGGLER_GRACE_MS,
      );
    }
  }

  stop(): void {
    this.stopped = true;
    for (const batch of this.batches.values()) clearTimeout(batch.timer);
    this.batches.clear();
  }

  private flush(key: string, batch: NoticeBatch): void {
    clearTimeout(batch.timer);
    if (this.batches.get(key) === batch) this.batches.delete(key);
    if (!this.stopped) this.listener(key, batch.id);
  }
}

/**
 * Resolves once `count` of the promises fulfilled; rejects with
 * {@link LockBackendUnavailableError} as soon as that is out of reach.
 */
function atLeast(promises: Promise<unknown>[], count: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let fulfilled = 0;
    let rejected = 0;
    for (const promise of promises) {
      promise.then(
        () => {
          if (++fulfilled === count) resolve();
        },
        (error: unknown) => {
          if (++rejected === promises.length - count + 1)
            reject(
              new LockBackendUnavailableError(
                `release notices are live on fewer than ${count} of ${promises.length} Redis masters`,
                { cause: error },
              ),
            );
        },
      );
    }
  });
}

/** A non-empty URL, an ioredis client (it runs scripts) or a store. */
function isMaster(master: unknown): master is RedlockMaster {
  if (typeof master === 'string') return master.length > 0;
  return (
    isLockStore(master as RedlockMaster) ||
    (typeof master === 'object' &&
      master !== null &&
      typeof (master as Partial<Redis>).evalsha === 'function')
  );
}

/**
 * What tells two masters apart: the host and port of a URL (another database
 * or other credentials on one server are the same server) or of an ioredis
 * client (or its socket path); a store by its identity.
 */
function serverOf(master: RedlockMaster): unknown {
  if (typeof master === 'string') {
    try {
      const url = new URL(master);
      if (url.protocol === 'redis:' || url.protocol === 'rediss:')
        return `${url.hostname.toLowerCase()}:${url.port || '6379'}`;
    } catch {
      // not a URL ioredis reads as host and port: compared as written
    }
    return master;
  }
  const options = (master as Partial<Redis>).options;
  if (isLockStore(master) || !options) return master;
  if (options.path) return `unix:${options.path}`;
  return options.host === undefined
    ? master
    : `${options.host.toLowerCase()}:${options.port ?? 6379}`;
}

function describeMaster(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (value === null || typeof value !== 'object') return String(value);
  return 'an object that is neither';
}

function isLockStore(master: RedlockMaster): master is LockStore {
  return (
    typeof master === 'object' &&
    master !== null &&
    typeof (master as Partial<LockStore>).acquire === 'function' &&
    typeof (master as Partial<LockStore>).release === 'function'
  );
}

function closedError(): LockBackendUnavailableError {
  return new LockBackendUnavailableError('the store is closed');
}
