import { Redis, type Cluster, type RedisOptions } from 'ioredis';
import { LockBackendUnavailableError } from '../errors/lock-backend-unavailable.error.js';
import { ACQUIRE_SCRIPT } from '../scripts/acquire.script.js';
import { EXTEND_SCRIPT } from '../scripts/extend.script.js';
import type { LuaScript } from '../scripts/lua-script.js';
import { RELEASE_SCRIPT } from '../scripts/release.script.js';
import type {
  AcquireResult,
  LockOutcome,
  LockStore,
  ReleaseListener,
} from './lock-store.js';
import { createLockToken } from '../lock-token.js';
import { toLockOutcome } from './lock-outcome.js';

/** How the Redis store reaches Redis, and its own limits. */
export interface RedisLockStoreOptions {
  /**
   * An ioredis client you own (`Redis`, or a `Cluster` where every lock lives
   * in one slot). The store never closes it; it only duplicates it once for
   * its release-notice subscriber. Set `commandTimeout` on it yourself to keep
   * operations bounded while Redis is down.
   */
  client?: Redis | Cluster;
  /** A Redis URL (`redis://host:port/db`), used when no client is given. */
  url?: string;
  /** ioredis options for a client the store creates; they override the store's defaults. */
  redisOptions?: RedisOptions;
  /**
   * Upper bound, in ms, for connecting and for each command on clients the
   * store creates: an unreachable Redis fails an operation within about this
   * long with {@link LockBackendUnavailableError}.
   * @default 1000
   */
  operationTimeout?: number;
}

const CHANNEL_SUFFIX = ':released';
/**
 * How long a refused attempt's waiter mark lives, in ms: longer than the
 * longest backoff, so that it lasts while its waiter still waits.
 */
const WAITER_MARK_TTL = 3000;
const UNAVAILABLE_REPLIES =
  /^(LOADING|READONLY|CLUSTERDOWN|TRYAGAIN|MASTERDOWN|BUSY|NOREPLICAS)\b/;

/**
 * A lock store on one Redis deployment, through ioredis (tested on a
 * standalone server; Sentinel and Cluster are planned). Every operation is one round trip: a Lua script called
 * by SHA. Release notices travel over Redis pub/sub on one shared subscriber
 * connection, multiplexed by key.
 */
export class RedisLockStore implements LockStore {
  readonly client: Redis | Cluster;
  private readonly ownsClient: boolean;
  private subscriber?: Redis | Cluster;
  private readonly listeners = new Map<string, Set<ReleaseListener>>();
  /** The SUBSCRIBE of each channel, so every listener waits until it is live. */
  private readonly subscribing = new Map<string, Promise<unknown>>();
  private closed = false;
  /** Names this store's process in the waiter marks that scripts leave. */
  private readonly clientId = createLockToken();
  private readonly channelPrefix: string;
  /** Set when the client has no `commandTimeout` of its own: the store bounds each call. */
  private readonly timeoutMs?: number;

  constructor(options: RedisLockStoreOptions = {}) {
    const operationTimeout = options.operationTimeout ?? 1000;
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
    // NOTE: ioredis prefixes KEYS but not pub/sub channels; the release script
    // publishes on the full key name, so subscriptions must add the prefix.
    this.channelPrefix =
      (this.client.options as { keyPrefix?: string }).keyPrefix ?? '';
    // NOTE: a client we created reports failures through rejected commands;
    // without a listener ioredis would print every reconnect error.
    if (this.ownsClient) this.client.on('error', noop);
    this.timeoutMs = hasCommandTimeout(this.client)
      ? undefined
      : operationTimeout;
  }

  async acquire(
    keys: readonly string[],
    token: string,
    ttlMs: number,
  ): Promise<AcquireResult> {
    const reply = (await this.run(ACQUIRE_SCRIPT, keys, [
      token,
      ttlMs,
      this.clientId,
      WAITER_MARK_TTL,
    ])) as number[];
    if (reply[0] !== 1) return { acquired: false, retryAfterMs: reply[1] };
    return {
      acquired: true,
      fences: reply.slice(1, keys.length + 1),
      othersWaiting: reply[keys.length + 1] === 1,
    };
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

  async release(keys: readonly string[], token: string): Promise<LockOutcome> {
    return toLockOutcome(
      (await this.run(RELEASE_SCRIPT, keys, [token])) as number,
    );
  }

  async subscribe(
    keys: readonly string[],
    listener: ReleaseListener,
  ): Promise<() => void> {
    if (this.closed)
      throw new LockBackendUnavailableError('the store is closed');
    const subscriber = this.ensureSubscriber();
    const live: Promise<unknown>[] = [];
    for (const key of keys) {
      const channel = this.channelOf(key);
      let set = this.listeners.get(channel);
      if (!set) {
        set = new Set();
        this.listeners.set(channel, set);
        this.subscribing.set(channel, subscriber.subscribe(channel));
      }
      set.add(listener);
      live.push(this.subscribing.get(channel)!);
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
    this.closed = true;
    this.listeners.clear();
    this.subscribing.clear();
    const closing: Promise<unknown>[] = [];
    if (this.subscriber) closing.push(quit(this.subscriber));
    if (this.ownsClient) closing.push(quit(this.client));
    await Promise.all(closing);
  }

  private unsubscribe(
    keys: readonly string[],
    listener: ReleaseListener,
  ): void {
    const idle: string[] = [];
    for (const key of keys) {
      const channel = this.channelOf(key);
      const set = this.listeners.get(channel);
      if (set?.delete(listener) && set.size === 0) {
        this.listeners.delete(channel);
        this.subscribing.delete(channel);
        idle.push(channel);
      }
    }
    if (idle.length > 0) this.subscriber?.unsubscribe(...idle).catch(noop);
  }

  /** The channel the release script publishes a key's notices on. */
  private channelOf(key: string): string {
    return this.channelPrefix + key + CHANNEL_SUFFIX;
  }

  private ensureSubscriber(): Redis | Cluster {
    let subscriber = this.subscriber;
    if (!subscriber) {
      // NOTE: a Cluster duplicates into a Cluster; both take no arguments here.
      subscriber = (this.client as Redis).duplicate() as Redis | Cluster;
      subscriber.on('error', noop);
      subscriber.on('message', (channel: string, message: string) => {
        const set = this.listeners.get(channel);
        if (!set) return;
        const key = channel.slice(
          this.channelPrefix.length,
          -CHANNEL_SUFFIX.length,
        );
        for (const listener of set) listener(key, message);
      });
      this.subscriber = subscriber;
    }
    return subscriber;
  }

  private run(
    script: LuaScript,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    const call = this.evaluate(script, keys, args);
    return this.timeoutMs === undefined
      ? call
      : withTimeout(call, this.timeoutMs);
  }

  private async evaluate(
    script: LuaScript,
    keys: readonly string[],
    args: readonly (string | number)[],
  ): Promise<unknown> {
    try {
      return await this.client.evalsha(
        script.sha,
        keys.length,
        ...keys,
        ...args,
      );
    } catch (error) {
      if (!isNoScript(error)) throw toStoreError(error);
      // NOTE: the server does not know the script (first use, or a restart
      // flushed its cache): EVAL runs it and caches it for later EVALSHAs.
      return this.client
        .eval(script.source, keys.length, ...keys, ...args)
        .catch((fallback: unknown) => {
          throw toStoreError(fallback);
        });
    }
  }
}

/**
 * ioredis defaults for clients the store creates. ioredis queues commands
 * while disconnected and retries forever by default, which turns an outage
 * into a hang; these bound every command and reconnect quickly once Redis is
 * back. Resending an unanswered command after a reconnect is safe: every
 * script gives the same answer when run twice.
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
    enableAutoPipelining: true,
    autoResendUnfulfilledCommands: true,
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

function createClient(url: string | undefined, options: RedisOptions): Redis {
  return url ? new Redis(url, options) : new Redis(options);
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith('NOSCRIPT');
}

function toStoreError(error: unknown): Error {
  if (!(error instanceof Error))
    return new LockBackendUnavailableError(String(error));
  if (error.name === 'ReplyError' && !UNAVAILABLE_REPLIES.test(error.message))
    return error;
  return new LockBackendUnavailableError(error.message, { cause: error });
}

async function quit(client: Redis | Cluster): Promise<void> {
  // NOTE: QUIT on a client that is not connected waits for a reconnect (and
  // leaves ioredis's connect timer running); drop such a connection at once.
  if (client.status !== 'ready') return client.disconnect();
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

function noop(): void {}
