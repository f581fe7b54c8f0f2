/**
 * One contract, every store: the Redis store on a real redis-server, the
 * quorum store over three of them, and the memory store must answer every
 * operation the same way.
 */
import { Redis } from 'ioredis';
import {
  MemoryLockStore,
  RedisLockStore,
  RedlockStore,
  type LockStore,
} from '../lib/index.js';
import {
  sleep,
  startRedis,
  type RedisServer,
} from './support/redis-harness.js';
import { useRedis } from './support/redis-fixture.js';

const redis = useRedis();

/** Three independent masters of the spec's own for the quorum store. */
const masters: { server: RedisServer; admin: Redis }[] = [];
beforeAll(async () => {
  for (const server of await Promise.all([1, 2, 3].map(() => startRedis())))
    masters.push({ server, admin: new Redis(server.url) });
});
afterAll(async () => {
  for (const { server, admin } of masters.splice(0)) {
    admin.disconnect();
    await server.stop();
  }
});

interface Backend {
  name: string;
  create(): Promise<LockStore>;
  /** Drops a key behind the store's back, as a Redis restart or FLUSHALL would. */
  wipe(key: string): Promise<void>;
  /**
   * For a store over several servers: each server's fence for the lease
   * `token` holds on `key`, once every server has one.
   */
  fencesOf?(key: string, token: string): Promise<number[]>;
  teardown(): Promise<void>;
}

const memoryStores: MemoryLockStore[] = [];
const backends: Backend[] = [
  {
    name: 'RedisLockStore',
    create: async () => new RedisLockStore({ url: redis.server.url }),
    wipe: async (key) => void (await redis.admin.del(key)),
    teardown: async () => {},
  },
  {
    name: 'RedlockStore (3 masters)',
    create: async () =>
      new RedlockStore({ masters: masters.map(({ server }) => server.url) }),
    wipe: async (key) => {
      await Promise.all(masters.map(({ admin }) => admin.del(key)));
    },
    fencesOf: async (key, token) => {
      // `<fence>:<token>`, with a leading w once a refused attempt marked it
      const pattern = new RegExp(`^w?(\\d+):${token}$`);
      const deadline = Date.now() + 5000;
      for (;;) {
        const values = await Promise.all(
          masters.map(({ admin }) => admin.get(key)),
        );
        const fences = values.map((value) => pattern.exec(value ?? ''));
        if (fences.every(Boolean) || Date.now() > deadline)
          return fences.map((match) => Number(match?.[1]));
        await sleep(5);
      }
    },
    teardown: async () => {},
  },
  {
    name: 'MemoryLockStore',
    create: async () => {
      const store = new MemoryLockStore();
      memoryStores.push(store);
      return store;
    },
    wipe: async (key) => {
      for (const store of memoryStores) store.forget(key);
    },
    teardown: async () => {},
  },
];

describe.each(backends)('$name contract', (backend) => {
  let store: LockStore;
  let n = 0;
  const key = () => `contract:{k${++n}-${Math.random().toString(36).slice(2)}}`;

  beforeEach(async () => {
    store = await backend.create();
  });
  afterEach(async () => {
    await store.close();
  });

  it('grants a free key, refuses it to another token, and reports the remaining lease', async () => {
    const k = key();
    const first = await store.acquire([k], 'tokenA', 5000);
    expect(first.acquired).toBe(true);
    const second = await store.acquire([k], 'tokenB', 5000);
    expect(second).toEqual({
      acquired: false,
      retryAfterMs: expect.any(Number),
      serverTime: expect.any(Number),
    });
    if (!second.acquired) {
      expect(second.retryAfterMs).toBeGreaterThan(4000);
      expect(second.retryAfterMs).toBeLessThanOrEqual(5000);
    }
  });

  it('answers a repeated acquire by the same token with the same fence', async () => {
    const k = key();
    const first = await store.acquire([k], 'tokenA', 5000);
    expect(first).toMatchObject({
      acquired: true,
      fences: [expect.any(Number)],
    });
    const again = await store.acquire([k], 'tokenA', 5000);
    expect(again).toEqual(first);
  });

  it('lets only the owner release, and says which case happened', async () => {
    const k = key();
    await store.acquire([k], 'tokenA', 5000);
    expect(await store.release([k], 'tokenB')).toBe('not-owner');
    expect((await store.acquire([k], 'tokenB', 5000)).acquired).toBe(false);
    expect(await store.release([k], 'tokenA')).toBe('ok');
    expect(await store.release([k], 'tokenA')).toBe('expired'); // a resent release changes nothing
    expect((await store.acquire([k], 'tokenB', 5000)).acquired).toBe(true);
    expect(await store.release([k], 'tokenA')).toBe('not-owner');
  });

  it('runs a release before an acquire of the same turn', async () => {
    const k = key();
    const other = key();
    await store.acquire([k], 'tokenA', 5000);
    await store.acquire([other], 'tokenC', 5000);
    // NOTE: no await in between: one turn, one batch for the Redis store.
    const [refused, released, granted] = await Promise.all([
      store.acquire([other], 'tokenD', 5000),
      store.release([k], 'tokenA'),
      store.acquire([k], 'tokenB', 5000),
    ]);
    expect(refused.acquired).toBe(false);
    expect(released).toBe('ok');
    expect(granted.acquired).toBe(true);
  });

  it("never runs a token's release ahead of that token's acquire sent before it, even in one turn", async () => {
    const k = key();
    // NOTE: a give-back right after an acquire whose answer is still out
    // (a quorum round that failed, a waiter that gave up)
    const [granted, released] = await Promise.all([
      store.acquire([k], 'tokenA', 5000),
      store.release([k], 'tokenA'),
    ]);
    expect(granted.acquired).toBe(true);
    expect(released).toBe('ok');
    expect((await store.acquire([k], 'tokenB', 5000)).acquired).toBe(true);
  });

  it('lets only the owner extend, and never revives an expired lease', async () => {
    const k = key();
    // NOTE: leases that outlast a few round trips on a loaded machine
    await store.acquire([k], 'tokenA', 300);
    expect(await store.extend([k], 'tokenB', 5000)).toBe('not-owner');
    expect(await store.extend([k], 'tokenA', 900)).toBe('ok');
    await sleep(450);
    expect((await store.acquire([k], 'tokenB', 5000)).acquired).toBe(false); // extended past the first 300 ms
    await sleep(750);
    expect(await store.extend([k], 'tokenA', 5000)).toBe('expired');
    expect(await store.release([k], 'tokenA')).toBe('expired');
    expect((await store.acquire([k], 'tokenB', 5000)).acquired).toBe(true);
  });

  it('expires a lease after its ttl', async () => {
    const k = key();
    await store.acquire([k], 'tokenA', 80);
    await sleep(130);
    expect((await store.acquire([k], 'tokenB', 5000)).acquired).toBe(true);
  });

  it('issues strictly increasing fences across holders, even after the key is lost', async () => {
    const k = key();
    const fences: number[] = [];
    for (let i = 0; i < 20; i++) {
      const result = await store.acquire([k], `t${i}`, 5000);
      if (!result.acquired) throw new Error('expected a grant');
      fences.push(result.fences[0]);
      // the 10th holder's key is lost while held (a restart without persistence)
      if (i === 10) await backend.wipe(k);
      else await store.release([k], `t${i}`);
    }
    for (let i = 1; i < fences.length; i++)
      expect(fences[i]).toBeGreaterThan(fences[i - 1]);
    expect(Number.isSafeInteger(fences.at(-1))).toBe(true);
  });

  it('takes several keys all or nothing', async () => {
    const [a, b, c] = [key(), key(), key()];
    expect((await store.acquire([b], 'other', 5000)).acquired).toBe(true);
    expect((await store.acquire([a, b, c], 'tokenA', 5000)).acquired).toBe(
      false,
    );
    // nothing was taken: a and c are still free for anyone
    expect((await store.acquire([a], 'x', 5000)).acquired).toBe(true);
    expect((await store.acquire([c], 'y', 5000)).acquired).toBe(true);
    await store.release([a], 'x');
    await store.release([c], 'y');
    await store.release([b], 'other');
    const all = await store.acquire([a, b, c], 'tokenA', 5000);
    expect(all.acquired && all.fences.length).toBe(3);
    expect(await store.extend([a, b, c], 'tokenA', 5000)).toBe('ok');
    expect(await store.release([a, b, c], 'tokenA')).toBe('ok');
  });

  it('notifies subscribers when a key that someone waited for is released, with the released fence', async () => {
    const k = key();
    const notices: Array<[string, string]> = [];
    const unsubscribe = await store.subscribe([k], (releasedKey, id) =>
      notices.push([releasedKey, id]),
    );
    const grant = await store.acquire([k], 'tokenA', 5000);
    expect((await store.acquire([k], 'waiter', 5000)).acquired).toBe(false);
    const granted = grant.acquired ? grant.fences[0] : NaN;
    // NOTE: over several servers, the grant's fence and the notice's are
    // each the largest of the servers that answered within a short grace,
    // not always the same ones: both are one of the servers' fences, no
    // smaller than all but the largest (a quorum of two in three)
    const fences = (await backend.fencesOf?.(k, 'tokenA')) ?? [granted];
    const floor = [...fences].sort((a, b) => a - b)[fences.length >> 1];
    expect(fences).toContain(granted);
    expect(granted).toBeGreaterThanOrEqual(floor);
    await store.release([k], 'tokenA');
    const deadline = Date.now() + 5000;
    while (notices.length === 0 && Date.now() < deadline) await sleep(5);
    expect(notices).toHaveLength(1);
    expect(notices[0][0]).toBe(k);
    expect(fences).toContain(Number(notices[0][1]));
    expect(Number(notices[0][1])).toBeGreaterThanOrEqual(floor);
    unsubscribe();
    await store.acquire([k], 'tokenB', 5000);
    expect((await store.acquire([k], 'waiter', 5000)).acquired).toBe(false);
    await store.release([k], 'tokenB');
    await sleep(50);
    expect(notices).toHaveLength(1);
  });

  it('sends no notice for a release that nobody waited for', async () => {
    const k = key();
    const notices: string[] = [];
    const unsubscribe = await store.subscribe([k], (_key, id) =>
      notices.push(id),
    );
    await store.acquire([k], 'tokenA', 5000);
    await store.release([k], 'tokenA');
    await sleep(50);
    expect(notices).toEqual([]);
    unsubscribe();
  });

  it('does not notify for a release by a non-owner', async () => {
    const k = key();
    const notices: string[] = [];
    const unsubscribe = await store.subscribe([k], (_key, id) =>
      notices.push(id),
    );
    await store.acquire([k], 'tokenA', 5000);
    await store.release([k], 'tokenB');
    await sleep(50);
    expect(notices).toEqual([]);
    unsubscribe();
  });
});

describe('RedisLockStore specifics', () => {
  it('treats a key it did not write as held, and never overwrites it', async () => {
    const store = new RedisLockStore({ url: redis.server.url });
    await redis.admin.set('contract:{foreign}', 'someone else', 'PX', 2000);
    const result = await store.acquire(['contract:{foreign}'], 'tokenA', 5000);
    expect(result.acquired).toBe(false);
    expect(await store.release(['contract:{foreign}'], 'tokenA')).toBe(
      'not-owner',
    );
    expect(await redis.admin.get('contract:{foreign}')).toBe('someone else');
    await store.close();
  });

  it("sends a turn's releases, handoffs and acquires as one script call", async () => {
    const store = new RedisLockStore({ url: redis.server.url });
    const keys = ['contract:{turn1}', 'contract:{turn2}', 'contract:{turn3}'];
    await Promise.all(keys.map((k) => store.acquire([k], `${k}:a`, 5000)));
    await redis.admin.config('RESETSTAT');
    const [released, passed, granted, refused] = await Promise.all([
      store.release([keys[0]], `${keys[0]}:a`),
      store.handOff(keys[1], `${keys[1]}:a`, `${keys[1]}:b`, 5000),
      store.acquire([keys[0]], `${keys[0]}:b`, 5000),
      store.acquire([keys[2]], `${keys[2]}:b`, 5000),
    ]);
    const stats = await redis.admin.info('commandstats');
    expect(/cmdstat_evalsha:calls=(\d+)/.exec(stats)?.[1]).toBe('1');
    expect(released).toBe('ok');
    expect(passed).toEqual({
      outcome: 'ok',
      fence: expect.any(Number),
      contended: false,
    });
    expect(granted.acquired).toBe(true);
    expect(refused.acquired).toBe(false);
    expect(await redis.admin.get(keys[1])).toMatch(/:contract:\{turn2\}:b$/);
    await store.close();
  });

  it("answers a request that hits a command error with that error, and the turn's other requests as usual", async () => {
    const store = new RedisLockStore({ url: redis.server.url });
    await store.acquire(['contract:{iso1}'], 'a', 5000);
    // NOTE: another application's hash where the key's wait queue would be.
    await redis.admin.hset('contract:{iso2}:q', 'field', 'value');
    const [released, broken, granted] = await Promise.allSettled([
      store.release(['contract:{iso1}'], 'a'),
      store.acquire(['contract:{iso2}'], 'b', 5000),
      store.acquire(['contract:{iso3}'], 'c', 5000),
    ]);
    expect(released).toEqual({ status: 'fulfilled', value: 'ok' });
    expect(broken).toEqual({
      status: 'rejected',
      reason: expect.objectContaining({
        message: expect.stringMatching(/^WRONGTYPE/),
      }),
    });
    expect(granted).toEqual({
      status: 'fulfilled',
      value: { acquired: true, fences: [expect.any(Number)] },
    });
    await store.close();
  });

  it('reloads its scripts after the server forgets them', async () => {
    const store = new RedisLockStore({ url: redis.server.url });
    expect(
      (await store.acquire(['contract:{reload}'], 'a', 5000)).acquired,
    ).toBe(true);
    await redis.admin.script('FLUSH');
    expect(await store.release(['contract:{reload}'], 'a')).toBe('ok');
    await store.close();
  });

  it('leaves a client it was given open when it closes', async () => {
    const client = new Redis(redis.server.url);
    const store = new RedisLockStore({ client });
    await store.subscribe(['contract:{owned}'], () => {});
    await store.close();
    expect(await client.ping()).toBe('PONG');
    await client.quit();
  });
});
