import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import { LockBackendUnavailableError } from '../errors/lock-backend-unavailable.error.js';
import { BATCH_SCRIPT } from '../scripts/batch.script.js';
import { DEQUEUE_SCRIPT } from '../scripts/dequeue.script.js';
import { EXTEND_SCRIPT } from '../scripts/extend.script.js';
import type { LuaScript } from '../scripts/lua-script.js';
import type {
  AcquireOptions,
  AcquireResult,
  GrantListener,
  HandoffResult,
  LockOutcome,
  QueueingLockStore,
  ReleaseListener,
} from './lock-store.js';
import { callAsync } from '../call-async.js';
import { createLockToken } from '../lock-token.js';
import { toLockOutcome } from './lock-outcome.js';
import { TICKET_TTL_MS } from './queue-timing.js';
import { noop } from '../noop.js';
import { MAX_TIMER_DELAY, assertDuration } from '../lock-options.js';

/** How the Redis store reaches Redis, and its own limits. */
export interface RedisLockStoreOptions {
  /**
   * An ioredis client you own (`Redis`, or a `Cluster`: the Redis keys of
   * one lock key share a slot, those of a multi-key lock do not). The store
   * never closes it; it only duplicates it once for its subscriber
   * connection. Without a `commandTimeout` of its own, the store bounds each
   * call by `operationTimeout`.
   */
  client?: Redis | Cluster;
  /** A Redis URL (`redis://host:port/db`), used when no client is given. */
  url?: string;
  /** ioredis options for a client the store creates; they override the store's defaults. */
  redisOptions?: RedisOptions;
  /**
   * Upper bound, in ms, for connecting and for each command on clients the
   * store creates, and for each call on a passed-in client without a
   * `commandTimeout`: an unreachable Redis fails an operation within about
   * this long with {@link LockBackendUnavailableError}.
   * @default 1000
   */
  operationTimeout?: number;
}

const RELEASED_SUFFIX = ':released';
const GRANT_CHANNEL = 'distributed-lock:grant:';
/** Requests merged into one script call at most (keeps each call short). */
const MAX_BATCH = 128;
/** The most keys in one script call (besides one larger request alone). */
const MAX_BATCH_KEYS = 4096;
/** A turn with at least twice this many requests is sent as two calls. */
const MIN_SPLIT_BATCH = 16;
const UNAVAILABLE_REPLIES =
  /^(LOADING|READONLY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|BUSY|NOREPLICAS)\b/;

/** A request waiting for its tick's script call. */
interface Pending<T> {
  readonly keys: readonly string[];
  readonly token: string;
  resolve(value: T): void;
  reject(error: unknown): void;
}

interface PendingAcquire extends Pending<AcquireResult> {
  readonly ttl: number;
  readonly queue: boolean;
  /** Releases of this token that wait for this acquire's answer. */
  after?: (() => void)[];
}

/** A release, or (with `next`) a handoff of one key to `next` for `ttl` ms. */
interface PendingRelease extends Pending<LockOutcome | HandoffResult> {
  readonly next?: string;
  readonly ttl?: number;
}

/**
 * A lock store on one Redis deployment, through ioredis (tested on a
 * standalone server; Sentinel and Cluster are planned). Every operation is
 * one round trip: a Lua script called by SHA. Acquires (and releases) made
 * in the same event-loop turn travel together in one script call, which keeps both
 * this process's and Redis's work per lock below a plain SET NX with
 * auto-pipelining. Each key keeps a fair wait queue with one place per
 * process; grants to a place and release notices travel over Redis pub/sub
 * on one shared subscriber connection.
 */
export class RedisLockStore implements QueueingLockStore {
  readonly client: Redis | Cluster;
  private readonly ownsClient: boolean;
  private subscriber?: Redis | Cluster;
  private readonly listeners = new Map<string, Set<ReleaseListener>>();
  /** The SUBSCRIBE of each channel, so every listener waits until it is live. */
  private readonly subscribing = new Map<string, Promise<unknown>>();
  private readonly grantListeners = new Set<GrantListener>();
  /** close() was called: new requests are refused. */
  private closed = false;
  /** Every call was answered and the connections are closing: nothing goes out. */
  private quitting = false;
  /** Names this store (its process) in the wait queues. */
  private readonly clientId = createLockToken();
  /** ioredis prefixes KEYS but not channels: channels add it themselves. */
  private readonly channelPrefix: string;
  private readonly grantChannel: string;
  /** What the scripts prepend to a client id to publish a grant to it. */
  private readonly grantPrefix: string;
  /** Set when the client has no `commandTimeout` of its own: the store bounds each call. */
  private readonly timeoutMs?: number;
  /** A Cluster routes by key: requests on different slots cannot share a call. */
  private readonly batches: boolean;
  private acquires: PendingAcquire[] = [];
  private releases: PendingRelease[] = [];
  /** Acquires sent (or about to be) and not answered yet, by token. */
  private readonly inFlight = new Map<string, PendingAcquire>();
  private flushing = false;
  private readonly operationTimeout: number;
  /** Script calls sent and not answered yet (close() waits for them). */
  private running = 0;
  /** Settles once `running` is back to 0 (what close() waits for). */
  private drained?: Promise<void>;
  private onDrained?: () => void;

  constructor(options: RedisLockStoreOptions = {}) {
    const operationTimeout = options.operationTimeout ?? 1000;
    assertDuration(operationTimeout, 'operationTimeout', 1, MAX_TIMER_DELAY);
    this.operationTimeout = operationTimeout;
    if (options.client) {
      this.client = options.client;
      this.ownsClient = false;
    } else {
      this.client = createClient(options.url, {
        ...defaultRedisOptions(operationTimeout),
        ...options.redisOptions,
      });
      this.ownsClient = true;
    }
    this.channelPrefix =
      (this.client.options as { keyPrefix?: string }).keyPrefix ?? '';
    this.grantPrefix = this.channelPrefix + GRANT_CHANNEL;
    this.grantChannel = this.grantPrefix + this.clientId;
    this.batches = !isCluster(this.client);
    // NOTE: a client we created reports failures through rejected commands;
    // without a listener ioredis would print every reconnect error.
    if (this.ownsClient) this.client.on('error', noop);
    this.timeoutMs = hasCommandTimeout(this.client)
      ? undefined
      : operationTimeout;
  }

  acquire(
    keys: readonly string[],
    token: string,
    ttlMs: number,
    options?: AcquireOptions,
  ): Promise<AcquireResult> {
    if (this.closed) return Promise.reject(closedStoreError());
    return new Promise((resolve, reject) => {
      const request: PendingAcquire = {
        keys,
        token,
        ttl: ttlMs,
        queue: options?.queue === true && keys.length === 1,
        resolve,
        reject,
        after: undefined,
      };
      this.inFlight.set(token, request);
      this.acquires.push(request);
      this.scheduleFlush();
    });
  }

  async extend(
    keys: readonly string[],
    token: string,
    ttlMs: number,
  ): Promise<LockOutcome> {
    return toLockOutcome(
      (await this.run(EXTEND_SCRIPT, keys, [token, ttlMs])) as number,
    );
  }

  release(keys: readonly string[], token: string): Promise<LockOutcome> {
    return this.queueRelease(keys, token, undefined, undefined);
  }

  handOff(
    key: string,
    token: string,
    nextToken: string,
    ttlMs: number,
  ): Promise<HandoffResult> {
    return this.queueRelease([key], token, nextToken, ttlMs);
  }

  async leaveQueue(key: string, token: string): Promise<void> {
    if (this.closed) throw closedStoreError();
    // NOTE: after the answer to the queued attempt of this very ticket, if
    // one is under way: run first, the dequeue would find nothing to take
    // out, and the attempt would then put the given-up ticket back in line.
    await new Promise((resolve, reject) =>
      this.afterAcquireOf(token, () =>
        this.dispatch(
          DEQUEUE_SCRIPT,
          [key],
          [this.clientId, this.grantPrefix, token],
          resolve,
          reject,
        ),
      ),
    );
  }

  async onGrant(listener: GrantListener): Promise<() => void> {
    if (this.closed)
      throw new LockBackendUnavailableError('the store is closed');
    this.grantListeners.add(listener);
    const unsubscribe = () => {
      this.grantListeners.delete(listener);
    };
    try {
      await this.listen(this.grantChannel);
    } catch (error) {
      unsubscribe();
      throw toStoreError(error);
    }
    return unsubscribe;
  }

  async subscribe(
    keys: readonly string[],
    listener: ReleaseListener,
  ): Promise<() => void> {
    if (this.closed)
      throw new LockBackendUnavailableError('the store is closed');
    const live: Promise<unknown>[] = [];
    for (const key of keys) {
      const channel = this.releasedChannel(key);
      let set = this.listeners.get(channel);
      if (!set) {
        set = new Set();
        this.listeners.set(channel, set);
      }
      set.add(listener);
      live.push(this.listen(channel));
    }
    const unsubscribe = () => this.unsubscribe(keys, listener);
    try {
      await Promise.all(live);
    } catch (error) {
      unsubscribe();
      throw toStoreError(error);
    }
    return unsubscribe;
  }

  async close(): Promise<void> {
    // NOTE: requests of this turn go out, and every call under way is
    // answered (a script the server did not know yet is sent again in full),
    // before QUIT: a release made while the application shuts down must not
    // be lost. Each call is bounded by the operation timeout.
    if (this.flushing && !this.closed) this.flush();
    this.closed = true;
    if (this.running > 0)
      await (this.drained ??= new Promise<void>(
        (resolve) => (this.onDrained = resolve),
      ));
    this.quitting = true;
    this.listeners.clear();
    this.subscribing.clear();
    this.grantListeners.clear();
    const closing: Promise<unknown>[] = [];
    if (this.subscriber)
      closing.push(quit(this.subscriber, this.operationTimeout));
    if (this.ownsClient) closing.push(quit(this.client, this.operationTimeout));
    await Promise.all(closing);
  }

  /** Subscribes to `channel` once; every caller waits until it is live. */
  private listen(channel: string): Promise<unknown> {
    let live = this.subscribing.get(channel);
    if (!live) {
      // NOTE: bounded like every call: the subscriber duplicates a client
      // that may have no commandTimeout of its own.
      const subscribed = this.bounded(
        this.ensureSubscriber().subscribe(channel),
      );
      this.subscribing.set(channel, subscribed);
      // NOTE: a subscription that failed (Redis down) is not kept: the next
      // caller asks again, or waits would fail until a restart.
      subscribed.catch(() => {
        if (this.subscribing.get(channel) === subscribed)
          this.subscribing.delete(channel);
      });
      live = subscribed;
    }
    return live;
  }

  private unsubscribe(
    keys: readonly string[],
    listener: ReleaseListener,
  ): void {
    const idle: string[] = [];
    for (const key of keys) {
      const channel = this.releasedChannel(key);
      const set = this.listeners.get(channel);
      if (set?.delete(listener) && set.size === 0) {
        this.listeners.delete(channel);
        this.subscribing.delete(channel);
        idle.push(channel);
      }
    }
    if (idle.length > 0) this.subscriber?.unsubscribe(...idle).catch(noop);
  }

  /** The channel the scripts publish a key's release notices on. */
  private releasedChannel(key: string): string {
    return this.channelPrefix + key + RELEASED_SUFFIX;
  }

  private ensureSubscriber(): Redis | Cluster {
    let subscriber = this.subscriber;
    if (!subscriber) {
      subscriber = isCluster(this.client)
        ? (this.client as Cluster).duplicate()
        : this.standaloneSubscriber(this.client as Redis);
      subscriber.on('error', noop);
      subscriber.on('message', (channel: string, message: string) =>
        channel === this.grantChannel
          ? this.onGrantMessage(message)
          : this.onReleaseMessage(channel, message),
      );
      this.subscriber = subscriber;
    }
    return subscriber;
  }

  /**
   * A duplicate of `client` that subscribes again after a reconnect itself,
   * and queues its commands while it connects.
   * NOTE: ioredis's own resubscription sends SUBSCRIBE with no handler for
   * its failure: a connection that drops again before the answer (or a
   * server that refuses the command) would end in an unhandled rejection,
   * which stops a Node process. The channels are this store's own list.
   */
  private standaloneSubscriber(client: Redis): Redis {
    // NOTE: with the offline queue on, whatever the client's setting: the
    // connection is new, so a SUBSCRIBE sent at once (first use) would fail
    // while it connects. It stays bounded (commandTimeout, or the store's
    // own bound), as every call is.
    const subscriber = client.duplicate({
      autoResubscribe: false,
      enableOfflineQueue: true,
    });
    let connected = false;
    subscriber.on('ready', () => {
      const channels = [...this.subscribing.keys()];
      // NOTE: when the connection drops again before the answer, the next
      // 'ready' subscribes again; a server that refuses leaves waiters to
      // their timers (a lease's end, a ticket's refresh), as with no notice.
      if (connected && channels.length > 0)
        subscriber.subscribe(...channels).catch(noop);
      connected = true;
    });
    return subscriber;
  }

  /** `<fence>:<token>:<ttl>:<key>`, published by the scripts when a ticket is granted. */
  private onGrantMessage(message: string): void {
    const first = message.indexOf(':');
    const second = message.indexOf(':', first + 1);
    const third = message.indexOf(':', second + 1);
    if (first < 0 || second < 0 || third < 0) return;
    const grant = {
      fence: Number(message.slice(0, first)),
      token: message.slice(first + 1, second),
      ttl: Number(message.slice(second + 1, third)),
      key: message.slice(third + 1 + this.channelPrefix.length),
    };
    for (const listener of this.grantListeners) listener(grant);
  }

  private onReleaseMessage(channel: string, message: string): void {
    const set = this.listeners.get(channel);
    if (!set) return;
    const key = channel.slice(
      this.channelPrefix.length,
      -RELEASED_SUFFIX.length,
    );
    for (const listener of set) listener(key, message);
  }

  /**
   * Adds a release (or, with `next`, a handoff) to this turn's script call.
   * NOTE: every pending release is built with the same fields in the same
   * order, so that they all share one object shape.
   */
  private queueRelease<T extends LockOutcome | HandoffResult>(
    keys: readonly string[],
    token: string,
    next: string | undefined,
    ttl: number | undefined,
  ): Promise<T> {
    // NOTE: a release of a token whose acquire has not been answered yet
    // must not overtake it, or that acquire would take the key after its own
    // give-back (see afterAcquireOf).
    if (this.closed) return Promise.reject(closedStoreError());
    return new Promise((resolve, reject) =>
      this.afterAcquireOf(token, () =>
        this.pushRelease({
          keys,
          token,
          next,
          ttl,
          resolve: resolve as PendingRelease['resolve'],
          reject,
        }),
      ),
    );
  }

  /**
   * Runs `send` now, or once the acquire of `token` under way has been
   * answered. NOTE: a call about a token must not overtake its acquire: a
   * turn's releases run before its acquires (see flush), and an acquire the
   * server answered NOSCRIPT is sent again as EVAL behind later calls.
   */
  private afterAcquireOf(token: string, send: () => void): void {
    const acquire = this.inFlight.get(token);
    if (acquire) (acquire.after ??= []).push(send);
    else send();
  }

  private pushRelease(release: PendingRelease): void {
    this.releases.push(release);
    this.scheduleFlush();
  }

  /** An acquire was answered: the releases that waited for it go out now. */
  private acquireAnswered(request: PendingAcquire): void {
    if (this.inFlight.get(request.token) === request)
      this.inFlight.delete(request.token);
    if (!request.after) return;
    for (const send of request.after) send();
    // NOTE: at once, not next turn: close() may be waiting for this answer.
    this.flush();
  }

  private scheduleFlush(): void {
    if (this.flushing) return;
    this.flushing = true;
    // NOTE: every acquire and release made in this turn of the event loop
    // joins one script call (two for a large turn, see batchSize). The call
    // leaves once the turn's I/O callbacks ran (setImmediate, not nextTick):
    // a server that read many requests in one turn sends their locks
    // together instead of one call per request.
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.flushing = false;
    const releases = this.releases;
    const acquires = this.acquires;
    this.acquires = [];
    this.releases = [];
    // NOTE: releases go first, in one call with the acquires, so that an
    // acquire finds its key as a release of the same turn left it.
    const total = releases.length + acquires.length;
    const size = this.batchSize(total);
    for (let from = 0; from < total;) {
      // NOTE: at most `size` requests and MAX_BATCH_KEYS keys per call (a
      // call's arguments are spread onto the stack), one request at least.
      let to = from;
      let keys = 0;
      while (to < total && to - from < size) {
        const request =
          to < releases.length ? releases[to] : acquires[to - releases.length];
        if (to > from && keys + request.keys.length > MAX_BATCH_KEYS) break;
        keys += request.keys.length;
        to++;
      }
      // NOTE: slice stops at an array's end, so the releases need no bound.
      this.send(
        releases.slice(from, to),
        acquires.slice(
          Math.max(0, from - releases.length),
          Math.max(0, to - releases.length),
        ),
      );
      from = to;
    }
  }

  /**
   * How many of a turn's `count` requests go in one script call. NOTE: a
   * large turn goes out as two calls: Redis runs the second while this
   * process already handles the answers to the first, so the two sides work
   * side by side instead of taking turns (callers that all resume on one
   * answer would otherwise move in lockstep).
   */
  private batchSize(count: number): number {
    if (!this.batches) return 1;
    if (count < 2 * MIN_SPLIT_BATCH) return count;
    return Math.min(MAX_BATCH, Math.ceil(count / 2));
  }

  /**
   * One script call for a batch: the keys of every request in order
   * (releases first), then `[client, grantPrefix, ticketTtl, releases,
   * acquires]` and each request's own arguments; each request gets its
   * answer from the reply.
   */
  private send(
    releases: readonly PendingRelease[],
    acquires: readonly PendingAcquire[],
  ): void {
    const keys: string[] = [];
    const args: (string | number)[] = [
      this.clientId,
      this.grantPrefix,
      TICKET_TTL_MS,
      releases.length,
      acquires.length,
    ];
    for (const request of releases) {
      for (const key of request.keys) keys.push(key);
      if (request.next === undefined)
        args.push(request.keys.length, request.token);
      else args.push(-1, request.token, request.next, request.ttl!);
    }
    for (const request of acquires) {
      for (const key of request.keys) keys.push(key);
      args.push(
        request.keys.length,
        request.token,
        request.ttl,
        request.queue ? 1 : 0,
      );
    }
    this.dispatch(
      BATCH_SCRIPT,
      keys,
      args,
      (reply) => {
        const values = reply as unknown[];
        decodeReleases(releases, values);
        decodeAcquires(acquires, values, releases.length);
        for (const request of acquires) this.acquireAnswered(request);
      },
      (error) => {
        for (const request of releases) request.reject(error);
        for (const request of acquires) {
          request.reject(error);
          this.acquireAnswered(request);
        }
      },
    );
  }

  private run(
    script: LuaScript,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    if (this.closed) return Promise.reject(closedStoreError());
    return new Promise((resolve, reject) =>
      this.dispatch(script, keys, args, resolve, reject),
    );
  }

  /**
   * Calls `script` by SHA and reports its reply or its error (as a store
   * error). NOTE: callbacks rather than a promise per layer: on the hot path
   * every promise counts (and costs more where async context tracking is on).
   */
  private dispatch(
    script: LuaScript,
    keys: readonly string[],
    args: readonly (string | number)[],
    onReply: (reply: unknown) => void,
    onError: (error: unknown) => void,
  ): void {
    // NOTE: a release that waited for its acquire's answer may still go out
    // while close() waits for the calls under way.
    if (this.quitting) return onError(closedStoreError());
    this.running++;
    const settle = () => {
      if (--this.running === 0) this.onDrained?.();
    };
    // NOTE: settled after the handlers ran: a release they send (one that
    // waited for this answer) counts before close() stops waiting.
    this.bounded(this.evaluate(script, keys, args)).then(
      (reply) => {
        onReply(reply);
        settle();
      },
      (error: unknown) => {
        onError(toStoreError(error));
        settle();
      },
    );
  }

  /** EVALSHA, then EVAL if the server does not know the script. */
  private evaluate(
    script: LuaScript,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    return callAsync(() =>
      this.client.evalsha(script.sha, keys.length, ...keys, ...args),
    ).catch((error: unknown) => {
      if (!isNoScript(error)) throw error;
      // NOTE: the server does not know the script (first use, or a restart
      // flushed its cache): EVAL runs it and caches it for later EVALSHAs.
      return this.client.eval(script.source, keys.length, ...keys, ...args);
    });
  }

  /** A call bounded by the operation timeout, unless the client has its own. */
  private bounded(call: Promise<unknown>): Promise<unknown> {
    return this.timeoutMs === undefined
      ? call
      : withTimeout(call, this.timeoutMs);
  }
}

/**
 * ioredis defaults for clients the store creates. ioredis queues commands
 * while disconnected and retries forever by default, which turns an outage
 * into a hang; these bound every command and reconnect quickly once Redis is
 * back. A command left unanswered when the connection broke is never sent
 * again: the engine has counted it as failed by then (and released by token
 * what it may have taken), so an acquire resent after the reconnect, seconds
 * later, would leave a lease that nobody releases.
 */
export function defaultRedisOptions(operationTimeout: number): RedisOptions {
  return {
    connectTimeout: operationTimeout,
    // NOTE: how long a closing socket may linger; the default 2 s keeps a
    // process alive after close() when Redis was unreachable.
    disconnectTimeout: operationTimeout,
    commandTimeout: operationTimeout,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    // NOTE: the store batches a tick's requests itself. ioredis's
    // auto-pipelining would hold each call until the next event-loop check
    // phase and keep one pipeline in flight per connection: a handoff or a
    // grant would wait behind an unrelated batch's round trip.
    enableAutoPipelining: false,
    autoResendUnfulfilledCommands: false,
    retryStrategy: (attempt) => Math.min(50 * attempt, 500),
  };
}

function hasCommandTimeout(client: Redis | Cluster): boolean {
  const options = client.options as {
    commandTimeout?: number;
    redisOptions?: { commandTimeout?: number };
  };
  return (
    typeof (options.commandTimeout ?? options.redisOptions?.commandTimeout) ===
    'number'
  );
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(new LockBackendUnavailableError(`no answer within ${ms} ms`)),
      ms,
    );
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Per request: `1, fence...` (granted) or `0, retryAfterMs, serverUs`. */
function decodeAcquires(
  batch: readonly PendingAcquire[],
  reply: readonly unknown[],
  from: number,
): void {
  const values = reply as number[];
  let at = from;
  for (const request of batch) {
    const head: unknown = values[at];
    if (head instanceof Error) {
      request.reject(toStoreError(head));
      at += 1;
    } else if (head === 1) {
      const count = request.keys.length;
      request.resolve({
        acquired: true,
        fences: values.slice(at + 1, at + 1 + count),
      });
      at += 1 + count;
    } else {
      request.resolve({
        acquired: false,
        retryAfterMs: values[at + 1],
        serverTime: values[at + 2],
      });
      at += 3;
    }
  }
}

/**
 * One outcome code per request; a handoff answers `[fence, waiting]` for
 * `ok` (the fence alone when resent: whether others wait is then unknown).
 */
function decodeReleases(
  batch: readonly PendingRelease[],
  reply: readonly unknown[],
): void {
  const codes = reply as (number | [number, number] | Error)[];
  batch.forEach((request, index) => {
    const code = codes[index];
    if (code instanceof Error) request.reject(toStoreError(code));
    else if (request.next === undefined)
      request.resolve(toLockOutcome(code as number));
    else if (Array.isArray(code))
      request.resolve({
        outcome: 'ok',
        fence: code[0],
        contended: code[1] === 1,
      });
    else
      request.resolve(
        code > 1
          ? { outcome: 'ok', fence: code }
          : { outcome: toLockOutcome(code) as 'expired' | 'not-owner' },
      );
  });
}

function closedStoreError(): LockBackendUnavailableError {
  return new LockBackendUnavailableError('the store is closed');
}

function isCluster(client: Redis | Cluster): boolean {
  return (client as { isCluster?: boolean }).isCluster === true;
}

function createClient(url: string | undefined, options: RedisOptions): Redis {
  return url ? new Redis(url, options) : new Redis(options);
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

function toStoreError(error: unknown): Error {
  if (error instanceof LockBackendUnavailableError) return error;
  if (!(error instanceof Error))
    return new LockBackendUnavailableError(String(error));
  if (error.name === 'ReplyError' && !UNAVAILABLE_REPLIES.test(error.message))
    return error;
  return new LockBackendUnavailableError(error.message, { cause: error });
}

async function quit(client: Redis | Cluster, timeoutMs: number): Promise<void> {
  // NOTE: QUIT on a client that is not connected waits for a reconnect (and
  // leaves ioredis's connect timer running); drop such a connection at once.
  if (client.status !== 'ready') return client.disconnect();
  // NOTE: bounded, for a frozen server behind an open socket: the
  // subscriber duplicates a client that may have no commandTimeout.
  try {
    await withTimeout(client.quit(), timeoutMs);
  } catch {
    client.disconnect();
  }
}
