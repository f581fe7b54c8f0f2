/**
 * With a quorum store, a release notice's id is the largest fence that the
 * announcing masters hold, each from its own clock: ids need not grow from
 * one release to the next. When a master whose clock runs ahead announces
 * one release and is left out of the next (its key held by someone else,
 * or down), the next notice carries a smaller id. A waiter in another
 * process must still wake on it: dropped as "already seen", the waiter
 * sleeps through the free key until its backoff ends (up to `maxDelay`, on
 * every release, for as long as the clocks differ).
 */
import { jest } from '@jest/globals';
import { Redis } from 'ioredis';
import {
  LockManager,
  RedisLockStore,
  RedlockStore,
  type AcquireResult,
  type LockOutcome,
  type LockStore,
  type ReleaseListener,
} from '../../lib/index.js';
import {
  sleep,
  startRedis,
  until,
  type RedisServer,
} from '../support/redis-harness.js';

/**
 * A master as one process sees it: its clock `offset` µs ahead (fences and
 * notice ids), and acquires that wait while `gate` is set.
 */
class Master implements LockStore {
  gate?: Promise<void>;
  gated = 0;
  constructor(
    readonly inner: RedisLockStore,
    private readonly offset = 0,
  ) {}

  async acquire(
    keys: readonly string[],
    token: string,
    ttlMs: number,
  ): Promise<AcquireResult> {
    if (this.gate) {
      this.gated++;
      await this.gate;
    }
    const result = await this.inner.acquire(keys, token, ttlMs);
    return result.acquired
      ? { ...result, fences: result.fences.map((f) => f + this.offset) }
      : result;
  }

  extend(keys: readonly string[], token: string, ttlMs: number) {
    return this.inner.extend(keys, token, ttlMs);
  }

  release(keys: readonly string[], token: string): Promise<LockOutcome> {
    return this.inner.release(keys, token);
  }

  subscribe(keys: readonly string[], listener: ReleaseListener) {
    return this.inner.subscribe(keys, (key, id) =>
      listener(key, String(Number(id) + this.offset)),
    );
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}

let servers: RedisServer[] = [];
let admins: Redis[] = [];
beforeAll(async () => {
  servers = await Promise.all([startRedis(), startRedis(), startRedis()]);
  admins = servers.map((server) => new Redis(server.url));
});
afterAll(async () => {
  admins.forEach((admin) => admin.disconnect());
  await Promise.all(servers.map((server) => server.stop()));
});
afterEach(() => {
  jest.restoreAllMocks();
});

it('a waiter in another process wakes on a release whose notice id is smaller than an earlier one', async () => {
  const storeKey = 'test:{skew}';
  // the holder's process: plain masters
  const holder = new RedlockStore({
    masters: servers.map((server) => server.url),
  });
  // the waiter's process: master 2's clock runs 5 s ahead of the others
  const masters = servers.map(
    (server, index) =>
      new Master(
        new RedisLockStore({ url: server.url }),
        index === 2 ? 5_000_000 : 0,
      ),
  );
  const locks = new LockManager({
    store: new RedlockStore({ masters }),
    prefix: 'test:',
  });
  const marked = (index: number) => async () =>
    (await admins[index].get(storeKey))?.startsWith('w') === true;
  const open = () => {
    let resolve!: () => void;
    const gate = new Promise<void>((r) => (resolve = r));
    for (const master of masters) master.gate = gate;
    return () => {
      for (const master of masters) master.gate = undefined;
      resolve();
    };
  };
  try {
    await (await locks.acquire('warm')).release();
    expect((await holder.acquire(['warm'], 'warm', 1000)).acquired).toBe(true);
    await holder.release(['warm'], 'warm');

    expect((await holder.acquire([storeKey], 'h1', 20_000)).acquired).toBe(
      true,
    );
    // full jitter drawn at its top: a waiter that misses a notice sleeps ~4 s
    jest.spyOn(Math, 'random').mockReturnValue(0.999);
    const waiting = locks.acquire('skew', {
      ttl: 5000,
      waitTimeout: 8000,
      retry: { baseDelay: 4000, maxDelay: 4000 },
    });
    for (const index of [0, 1, 2]) await until(marked(index), 3000);
    await sleep(200); // asleep after its refusals

    // every master announces h1's release: the notice carries master 2's
    // fence, 5 s ahead; the waiter wakes and its attempt waits at the gate
    const letThrough = open();
    expect(await holder.release([storeKey], 'h1')).toBe('ok');
    await until(async () => masters.every((master) => master.gated > 0), 3000);
    // h2 takes the key on masters 0 and 1 (master 2 holds another lease):
    // its fence comes from the clocks that are not ahead
    await admins[2].set(storeKey, 'foreign', 'PX', 20_000);
    expect((await holder.acquire([storeKey], 'h2', 20_000)).acquired).toBe(
      true,
    );
    letThrough();
    // the waiter is refused again and sleeps
    for (const index of [0, 1]) await until(marked(index), 3000);
    await sleep(200);

    const releasedAt = performance.now();
    expect(await holder.release([storeKey], 'h2')).toBe('ok');
    const lock = await waiting;
    // NOTE: a missed notice leaves it asleep for about 4 s
    expect(performance.now() - releasedAt).toBeLessThan(2500);
    await lock.release();
  } finally {
    await Promise.all([locks.close(), holder.close()]);
    // the quorum store never closes the stores it was given
    await Promise.all(masters.map((master) => master.close()));
    await admins[2].del(storeKey);
  }
}, 20_000);
