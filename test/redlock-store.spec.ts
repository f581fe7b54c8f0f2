/**
 * The quorum store (Redlock): on three redis-server processes of the spec's
 * own, which it kills (SIGKILL) and freezes (SIGSTOP) on purpose, and on
 * scripted masters for the exact arithmetic (who answers, when, with what).
 */
import { Redis } from 'ioredis';
import {
  LockBackendUnavailableError,
  LockError,
  LockManager,
  RedisLockStore,
  RedlockStore,
  type RedlockStoreOptions,
} from '../lib/index.js';
import {
  sleep,
  startRedis,
  type RedisServer,
} from './support/redis-harness.js';
import { ScriptedStore } from './support/scripted-store.js';

let n = 0;
const uniqueKey = (name = 'k') =>
  `${name}-${++n}-${Math.random().toString(36).slice(2)}`;

const noGrant = () => ({ acquired: false }) as const;

/**
 * Polls `check` until it holds or `ms` pass; answers whether it held. NOTE:
 * the default is long: what the tests wait for with it (a give-back, a
 * notice) comes within a few round trips, which a loaded machine stretches,
 * while what it would take otherwise (a 10 s lease running out) does not
 * come at all.
 */
async function eventually(
  check: () => Promise<boolean> | boolean,
  ms = 5000,
): Promise<boolean> {
  const deadline = performance.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (performance.now() > deadline) return false;
    await sleep(5);
  }
}

describe('RedlockStore on three redis-server processes', () => {
  const servers: RedisServer[] = [];
  const admins: Redis[] = [];
  const killed = new Set<RedisServer>();
  const closing: Array<{ close(): Promise<void> }> = [];

  beforeAll(async () => {
    servers.push(...(await Promise.all([1, 2, 3].map(() => startRedis()))));
    admins.push(...servers.map((server) => new Redis(server.url)));
  });
  afterEach(async () => {
    await Promise.all(closing.splice(0).map((item) => item.close()));
    for (const server of servers) server.resume();
    for (const server of killed) await server.restart();
    killed.clear();
    // NOTE: the admin clients reconnect with a backoff: wait for them, or
    // the next test's setup lands late on a restarted master.
    await Promise.all(admins.map((admin) => admin.ping()));
  });
  afterAll(async () => {
    for (const admin of admins) admin.disconnect();
    await Promise.all(servers.map((server) => server.stop()));
  });

  function redlock(options: Partial<RedlockStoreOptions> = {}): RedlockStore {
    const store = new RedlockStore({
      masters: servers.map((server) => server.url),
      ...options,
    });
    closing.push(store);
    return store;
  }

  function manager(store = redlock()): LockManager {
    const locks = new LockManager({ store, prefix: 'test:' });
    closing.push(locks);
    return locks;
  }

  async function kill(...indexes: number[]): Promise<void> {
    for (const index of indexes) {
      killed.add(servers[index]);
      await servers[index].kill();
    }
  }

  /** Connects a store to every master, so that a later kill cuts live connections. */
  async function warmUp(store: RedlockStore): Promise<void> {
    const key = uniqueKey('warm');
    expect((await store.acquire([key], 'warm', 1000)).acquired).toBe(true);
    expect(await store.release([key], 'warm')).toBe('ok');
  }

  it('with one of three masters killed, still grants locks, exclusively, and without waiting for the dead one', async () => {
    // NOTE: a dead master's command fails only at the operation timeout: a
    // long one sets waiting for it far apart from not waiting, on a slow
    // machine too
    const [a, b] = [redlock({ operationTimeout: 10_000 }), redlock()];
    await Promise.all([warmUp(a), warmUp(b)]);
    await kill(2);
    const key = uniqueKey();
    const started = performance.now();
    expect((await a.acquire([key], 'tokenA', 10_000)).acquired).toBe(true);
    expect(performance.now() - started).toBeLessThan(5000);
    const refused = await b.acquire([key], 'tokenB', 10_000);
    expect(refused).toMatchObject({ acquired: false });
    expect(!refused.acquired && refused.retryAfterMs).toBeGreaterThan(9000);
    for (const admin of admins.slice(0, 2))
      expect(await admin.get(key)).toMatch(/:tokenA$/);
    expect(await a.release([key], 'tokenA')).toBe('ok');
    expect((await b.acquire([key], 'tokenB', 10_000)).acquired).toBe(true);
    // (through b: a's release would wait for the dead master's timeout)
    expect(await b.release([key], 'tokenA')).toBe('not-owner');
  });

  it('with two of three masters killed, rejects with LockBackendUnavailableError within 2.5 s instead of hanging or reporting contention', async () => {
    const store = redlock();
    const locks = manager(store);
    await warmUp(store);
    await kill(1, 2);
    const key = uniqueKey();
    for (const attempt of [
      () => store.acquire([key], 'token', 10_000),
      () => locks.acquire(key, { waitTimeout: 5000 }),
      () => locks.tryAcquire(key),
    ]) {
      const started = performance.now();
      await expect(attempt()).rejects.toBeInstanceOf(
        LockBackendUnavailableError,
      );
      expect(performance.now() - started).toBeLessThan(2500);
    }
    // the surviving master's grants were given back
    expect(
      await eventually(
        async () => (await admins[0].exists(key, `test:{${key}}`)) === 0,
      ),
    ).toBe(true);
  });

  it('gives back the grant of a master that had not sent its acquire yet when the round failed', async () => {
    // the two masters listed first fail at once (no offline queue), before
    // the third has sent its batch: the give-back must not overtake it
    const store = redlock({ redisOptions: { enableOfflineQueue: false } });
    const warm = uniqueKey('warm');
    expect(
      await eventually(async () => {
        const result = await store.acquire([warm], 'warm', 1000).catch(noGrant);
        return result.acquired; // once every connection is ready
      }),
    ).toBe(true);
    await kill(0, 1);
    const key = uniqueKey();
    await expect(store.acquire([key], 'token', 10_000)).rejects.toBeInstanceOf(
      LockBackendUnavailableError,
    );
    // the live master has run the acquire and the give-back: close() waits
    // for the calls under way on each master
    await store.close();
    expect(await admins[2].exists(key)).toBe(0);
  });

  it("gives back a frozen master's grant when it wakes up, even after close()", async () => {
    const store = redlock();
    await warmUp(store);
    const key = uniqueKey();
    await admins[0].set(key, 'foreign', 'PX', 5000);
    await admins[1].set(key, 'foreign', 'PX', 5000);
    servers[2].pause();
    const result = await store.acquire([key], 'token', 30_000);
    expect(result.acquired).toBe(false); // two refusals decide
    await store.close();
    servers[2].resume();
    // the third master runs what its closed connection still carried (the
    // acquire, then the give-back) before it drops that connection: wait
    // until only the admin client is left
    const others = async () =>
      ((await admins[2].client('LIST')) as string).trim().split('\n').length -
      1;
    expect(await eventually(async () => (await others()) === 0)).toBe(true);
    expect(await admins[2].exists(key)).toBe(0);
  });

  it('refuses a key that another owner holds on two masters, and gives back its grant on the third', async () => {
    const store = redlock();
    const key = uniqueKey();
    await admins[0].set(key, 'foreign', 'PX', 5000);
    await admins[1].set(key, 'foreign', 'PX', 5000);
    const result = await store.acquire([key], 'mine', 10_000);
    expect(result).toMatchObject({ acquired: false });
    // both refusing leases end in about 5 s: a quorum is free then
    expect(!result.acquired && result.retryAfterMs).toBeGreaterThan(4000);
    expect(!result.acquired && result.retryAfterMs).toBeLessThanOrEqual(5000);
    expect(
      await eventually(async () => (await admins[2].exists(key)) === 0),
    ).toBe(true);
    expect(await admins[0].get(key)).toBe('foreign');
    expect(await admins[1].get(key)).toBe('foreign');
  });

  it("grants a key that another owner holds on one master only, and its release leaves that owner's key alone", async () => {
    const store = redlock();
    const key = uniqueKey();
    await admins[0].set(key, 'foreign', 'PX', 5000);
    expect((await store.acquire([key], 'mine', 10_000)).acquired).toBe(true);
    expect(await admins[1].get(key)).toMatch(/:mine$/);
    expect(await admins[2].get(key)).toMatch(/:mine$/);
    expect(await store.release([key], 'mine')).toBe('ok');
    expect(await admins[0].get(key)).toBe('foreign');
    expect(await admins[1].exists(key)).toBe(0);
    expect(await admins[2].exists(key)).toBe(0);
  });

  it('counts validity from when the acquire was sent: a slow master shrinks what is left of the lease', async () => {
    const locks = manager();
    await (await locks.acquire(uniqueKey('warm'))).release(); // first-call costs out of the way
    const key = uniqueKey();
    // master 0 refuses, so the grant needs the frozen master 2
    await admins[0].set(`test:{${key}}`, 'foreign', 'PX', 10_000);
    servers[2].pause();
    // NOTE: the engine notes the send synchronously within acquire():
    // between these two readings of the clock
    const sentAt = performance.now();
    const pending = locks.acquire(key, { ttl: 3000, waitTimeout: 0 });
    const calledAt = performance.now();
    await sleep(300);
    const resumedAt = performance.now();
    servers[2].resume();
    const lock = await pending;
    expect(lock.isHeld).toBe(true);
    const validity = 3000 - (3000 * 0.01 + 2);
    // when the lock stops being trusted (expiresAt is whole ms, floored)
    const validUntil = lock.expiresAt - performance.timeOrigin;
    // counted from the send: at most the validity after the call, so at
    // least the freeze before what counting from the answer would give
    expect(validUntil).toBeLessThanOrEqual(calledAt + validity + 0.01);
    expect(resumedAt - calledAt).toBeGreaterThanOrEqual(299);
    expect(validUntil + 1).toBeGreaterThanOrEqual(sentAt + validity);
    await lock.release();
  });

  it('treats a quorum that answers after the lease would have ended as no grant, and gives its leases back', async () => {
    const store = redlock({ operationTimeout: 5000 });
    const key = uniqueKey();
    await admins[0].set(key, 'foreign', 'PX', 10_000);
    servers[2].pause();
    const pending = store.acquire([key], 'late', 1000);
    await sleep(1150);
    servers[2].resume();
    expect(await pending).toMatchObject({ acquired: false, retryAfterMs: 0 });
    // master 2 granted at about 1150 ms, for 1000 ms more: only the release
    // can have removed it this soon
    expect(
      await eventually(async () => (await admins[2].exists(key)) === 0, 700),
    ).toBe(true);
    expect(await admins[0].get(key)).toBe('foreign');
  });

  it('subscribes with a master down, and delivers one notice per release with the fence of the grant', async () => {
    const store = redlock();
    await warmUp(store);
    await kill(2);
    const key = uniqueKey();
    const notices: string[] = [];
    const started = performance.now();
    const unsubscribe = await store.subscribe([key], (_key, id) =>
      notices.push(id),
    );
    expect(performance.now() - started).toBeLessThan(2500);
    const grant = await store.acquire([key], 'tokenA', 10_000);
    // a refused attempt marks the key: only then does its release announce itself
    expect((await store.acquire([key], 'waiter', 10_000)).acquired).toBe(false);
    expect(await store.release([key], 'tokenA')).toBe('ok');
    expect(await eventually(() => notices.length > 0)).toBe(true);
    await sleep(50);
    expect(notices).toEqual([String(grant.acquired && grant.fences[0])]);
    unsubscribe();
  });

  it('asks a master whose subscription failed again once it is back, for as long as the subscription lasts', async () => {
    const store = redlock();
    await warmUp(store);
    await kill(1);
    const key = uniqueKey();
    const notices: string[] = [];
    const unsubscribe = await store.subscribe([key], (_key, id) =>
      notices.push(id),
    );
    // past the operation timeout: that master's subscription has failed
    await sleep(1500);
    await servers[1].restart();
    killed.delete(servers[1]);
    const channel = `${key}:released`;
    const subscribers = async (master: number) =>
      ((await admins[master].pubsub('NUMSUB', channel)) as [string, number])[1];
    await admins[1].ping();
    expect(
      await eventually(async () => (await subscribers(1)) === 1, 5000),
    ).toBe(true);
    // with another master out, the two that are left still announce a release
    const grant = await store.acquire([key], 'tokenA', 10_000);
    expect((await store.acquire([key], 'waiter', 10_000)).acquired).toBe(false);
    // NOTE: the grant's fence is the largest of the three masters'; the
    // notice can only carry the largest of the two that announce it
    const fenceOn = async (master: number) =>
      // `<fence>:<token>`, with a leading w once a refused attempt marked it
      Number(/^w?(\d+):/.exec((await admins[master].get(key))!)![1]);
    const announced = Math.max(await fenceOn(0), await fenceOn(1));
    expect(grant.acquired && grant.fences[0]).toBeGreaterThanOrEqual(announced);
    servers[2].pause();
    expect(await store.release([key], 'tokenA')).toBe('ok');
    expect(await eventually(() => notices.length > 0)).toBe(true);
    servers[2].resume();
    expect(notices).toEqual([String(announced)]);
    unsubscribe();
    expect(await eventually(async () => (await subscribers(1)) === 0)).toBe(
      true,
    );
  });

  describe.each([
    ['all three masters up', []],
    ['one master killed', [1]],
  ])('LockManager on RedlockStore, %s', (_name, down: number[]) => {
    it('never loses an update of a counter that concurrent using calls read, await and write', async () => {
      // two managers on two stores: two processes' worth of contention
      const managers = [manager(), manager()];
      if (down.length > 0) {
        await Promise.all(
          managers.map((locks) => warmUp(locks.store as RedlockStore)),
        );
        await kill(...down);
      }
      const key = uniqueKey('counter');
      let counter = 0;
      let inside = 0;
      let overlaps = 0;
      const workers = 16;
      await Promise.all(
        Array.from({ length: workers }, (_, worker) =>
          managers[worker % 2].using(
            key,
            async () => {
              if (++inside > 1) overlaps++;
              const read = counter;
              await sleep(2);
              counter = read + 1;
              inside--;
            },
            { ttl: 5000, waitTimeout: 20_000 },
          ),
        ),
      );
      expect(overlaps).toBe(0);
      expect(counter).toBe(workers);
    });

    it('hands the lock to a waiter soon after the holder releases', async () => {
      const [holder, waiter] = [manager(), manager()];
      if (down.length > 0) {
        await Promise.all(
          [holder, waiter].map((locks) => warmUp(locks.store as RedlockStore)),
        );
        await kill(...down);
      }
      const key = uniqueKey('handoff');
      const held = await holder.acquire(key, { ttl: 60_000 });
      // NOTE: a backoff drawn from a minute, and a lease of a minute, so that
      // only the release notice can explain a handoff within seconds (a
      // retry drawn that short is rare, and passes too)
      const waiting = waiter.acquire(key, {
        ttl: 10_000,
        waitTimeout: 60_000,
        retry: { baseDelay: 60_000, maxDelay: 60_000 },
      });
      // the waiter's refused attempt marks the key (w) on a live master
      expect(
        await eventually(
          async () => (await admins[0].get(`test:{${key}}`))?.[0] === 'w',
          5000,
        ),
      ).toBe(true);
      const releasedAt = performance.now();
      await held.release();
      const lock = await waiting;
      expect(performance.now() - releasedAt).toBeLessThan(3000);
      expect(lock.fence).toBeGreaterThan(held.fence);
      await lock.release();
    });
  });

  it('closes the connections it opened and never the clients or stores it was given', async () => {
    const client = new Redis(servers[1].url);
    const given = new RedisLockStore({ url: servers[2].url });
    const store = new RedlockStore({
      masters: [servers[0].url, client, given],
    });
    const key = uniqueKey();
    await store.subscribe([key], () => {});
    expect((await store.acquire([key], 'token', 1000)).acquired).toBe(true);
    await store.close();
    closing.push(given, { close: async () => client.disconnect() });
    const opened = (store.stores[0] as RedisLockStore).client;
    expect(await eventually(() => opened.status === 'end')).toBe(true);
    expect(await client.ping()).toBe('PONG');
    expect(await given.release([key], 'token')).toBe('ok');
    await expect(store.acquire([key], 'token', 1000)).rejects.toBeInstanceOf(
      LockBackendUnavailableError,
    );
  });

  it('counts a master whose extend, release or subscribe throws instead of rejecting as a failed one: the others still decide', async () => {
    const inner = new RedisLockStore({ url: servers[0].url });
    const throwing = {
      acquire: inner.acquire.bind(inner),
      extend: () => {
        throw new Error('boom (extend)');
      },
      release: () => {
        throw new Error('boom (release)');
      },
      subscribe: () => {
        throw new Error('boom (subscribe)');
      },
      close: () => inner.close(),
    };
    const store = new RedlockStore({
      masters: [throwing, servers[1].url, servers[2].url],
    });
    closing.push(store, inner);
    const key = uniqueKey();
    const unsubscribe = await store.subscribe([key], () => {});
    unsubscribe();
    expect((await store.acquire([key], 'token', 30_000)).acquired).toBe(true);
    expect(await store.extend([key], 'token', 30_000)).toBe('ok');
    expect(await store.release([key], 'token')).toBe('ok');
    // the two masters that answered did release
    expect(await admins[1].exists(key)).toBe(0);
    expect(await admins[2].exists(key)).toBe(0);
  });
});

describe('RedlockStore on scripted masters', () => {
  const grant = (...fences: number[]) => ({
    acquired: true as const,
    fences,
  });
  const refusal = (retryAfterMs: number) => ({
    acquired: false as const,
    retryAfterMs,
  });

  function scripted(count = 3): {
    masters: ScriptedStore[];
    store: RedlockStore;
  } {
    const masters = Array.from({ length: count }, () => new ScriptedStore());
    return { masters, store: new RedlockStore({ masters }) };
  }

  it('needs at least one master and takes a majority as its quorum', () => {
    expect(() => new RedlockStore({ masters: [] })).toThrow(LockError);
    expect(
      [1, 2, 3, 4, 5].map((count) => scripted(count).store.quorum),
    ).toEqual([1, 2, 2, 3, 3]);
  });

  it('reports the largest fence of the granting masters, key by key', async () => {
    const { masters, store } = scripted();
    const pending = store.acquire(['a', 'b'], 'token', 10_000);
    masters[0].acquires[0].resolve(grant(5, 20));
    masters[1].acquires[0].resolve(grant(9, 1));
    masters[2].acquires[0].resolve(grant(7, 3));
    expect(await pending).toEqual(grant(9, 20));
  });

  it('waits for a silent master only a short grace once a quorum granted, and leaves it out of the fence', async () => {
    const { masters, store } = scripted();
    const started = performance.now();
    const pending = store.acquire(['k'], 'token', 10_000);
    masters[0].acquires[0].resolve(grant(5));
    masters[1].acquires[0].resolve(grant(9));
    // unsettled: the silent master may still set a lease (close() releases it)
    expect(await pending).toEqual({ ...grant(9), unsettled: true });
    expect(performance.now() - started).toBeLessThan(200);
    // its grant arriving late changes nothing and releases nothing
    masters[2].acquires[0].resolve(grant(12));
    await sleep(10);
    expect(masters.map((master) => master.releases.length)).toEqual([0, 0, 0]);
  });

  it.each([
    [
      'one grant, refusals ending in 300 and 100 ms',
      [grant(1), refusal(300), refusal(100)],
      100,
    ],
    [
      'refusals ending in 500 and 100 ms, the third master yet to answer',
      [refusal(500), refusal(100)],
      100,
    ],
    [
      'refusals by keys without expiry',
      [refusal(-1), refusal(-1), refusal(100)],
      -1,
    ],
  ])(
    'refused (%s): gives back every grant and retries when a quorum may be free',
    async (_name, answers, retryAfterMs) => {
      const { masters, store } = scripted();
      const pending = store.acquire(['k'], 'token', 10_000);
      answers.forEach((answer, index) =>
        masters[index].acquires[0].resolve(answer),
      );
      expect(await pending).toMatchObject(refusal(retryAfterMs));
      for (const master of masters)
        expect(master.releases).toEqual([{ keys: ['k'], token: 'token' }]);
    },
  );

  it('with four masters (quorum 3), one failing and three refusing, retries when the second refusing lease ends', async () => {
    const { masters, store } = scripted(4);
    const pending = store.acquire(['k'], 'token', 10_000);
    masters[0].acquires[0].reject(new LockBackendUnavailableError('down'));
    masters[1].acquires[0].resolve(refusal(300));
    masters[2].acquires[0].resolve(refusal(100));
    masters[3].acquires[0].resolve(refusal(200));
    expect(await pending).toMatchObject(refusal(200));
  });

  it('refuses as soon as a quorum refused, without waiting for a silent master', async () => {
    const { masters, store } = scripted();
    const pending = store.acquire(['k'], 'token', 10_000);
    masters[0].acquires[0].resolve(refusal(100));
    masters[1].acquires[0].resolve(refusal(200));
    // the silent master may be free: one of the refusing ones must end
    expect(await pending).toEqual(refusal(100));
    expect(masters[2].releases).toHaveLength(1);
  });

  it('rejects with LockBackendUnavailableError when fewer than a quorum answered, grant or not', async () => {
    for (const first of [grant(1), refusal(100)]) {
      const { masters, store } = scripted();
      const pending = store.acquire(['k'], 'token', 10_000);
      masters[0].acquires[0].resolve(first);
      masters[1].acquires[0].reject(new LockBackendUnavailableError('down'));
      masters[2].acquires[0].reject(new Error('connection reset'));
      await expect(pending).rejects.toBeInstanceOf(LockBackendUnavailableError);
      for (const master of masters) expect(master.releases).toHaveLength(1);
    }
  });

  it('treats a quorum granted after ttl - drift as no grant, and gives it back', async () => {
    const { masters, store } = scripted();
    const pending = store.acquire(['k'], 'token', 100);
    await sleep(120);
    for (const master of masters) master.acquires[0].resolve(grant(1));
    expect(await pending).toEqual(refusal(0));
    for (const master of masters) expect(master.releases).toHaveLength(1);
  });

  it.each([
    [['ok', 'ok', 'not-owner'], 'ok'],
    [['ok', 'expired', 'expired'], 'expired'],
    [['ok', 'expired', 'not-owner'], 'not-owner'],
    [['not-owner', 'expired', 'expired'], 'expired'],
  ] as const)(
    'extend answered %j by the masters is %s',
    async (outcomes, expected) => {
      const { masters, store } = scripted();
      const pending = store.extend(['k'], 'token', 10_000);
      outcomes.forEach((outcome, index) =>
        masters[index].extensions[0].resolve(outcome),
      );
      expect(await pending).toBe(expected);
    },
  );

  it('extend: a quorum that extended too late has lost the lock; too few answers are an outage', async () => {
    const late = scripted();
    const pending = late.store.extend(['k'], 'token', 100);
    await sleep(120);
    for (const master of late.masters) master.extensions[0].resolve('ok');
    expect(await pending).toBe('expired');

    const down = scripted();
    const failing = down.store.extend(['k'], 'token', 10_000);
    down.masters[0].extensions[0].resolve('ok');
    down.masters[1].extensions[0].reject(new Error('down'));
    down.masters[2].extensions[0].reject(new Error('down'));
    await expect(failing).rejects.toBeInstanceOf(LockBackendUnavailableError);
  });

  it.each([
    [['ok', 'ok', 'not-owner'], 'ok'],
    [['ok', 'expired', 'not-owner'], 'not-owner'],
    [['ok', 'expired', 'expired'], 'expired'],
  ] as const)(
    'release answered %j by the masters is %s',
    async (outcomes, expected) => {
      const { masters, store } = scripted();
      outcomes.forEach((outcome, index) => {
        masters[index].releaseAnswer = outcome;
      });
      expect(await store.release(['k'], 'token')).toBe(expected);
    },
  );

  it('release: fewer than a quorum answering is an outage', async () => {
    const { masters, store } = scripted();
    masters[1].releaseAnswer = new Error('down');
    masters[2].releaseAnswer = new Error('down');
    await expect(store.release(['k'], 'token')).rejects.toBeInstanceOf(
      LockBackendUnavailableError,
    );
  });

  it('turns the per-master notices of a release into one, with the largest fence', async () => {
    const { masters, store } = scripted();
    const notices: Array<[string, string]> = [];
    const unsubscribe = await store.subscribe(['k'], (key, id) =>
      notices.push([key, id]),
    );
    masters[0].notify('k', '7');
    masters[1].notify('k', '9');
    expect(notices).toEqual([]);
    masters[2].notify('k', '8');
    expect(notices).toEqual([['k', '9']]);
    // a quorum of notices, one master silent: delivered after a short grace
    masters[2].notify('k', '11');
    masters[0].notify('k', '10');
    expect(notices).toHaveLength(1);
    await sleep(50);
    expect(notices).toEqual([
      ['k', '9'],
      ['k', '11'],
    ]);
    // a lone notice (a refused attempt giving its grant back) is no release
    masters[1].notify('k', '12');
    await sleep(50);
    expect(notices).toHaveLength(2);
    unsubscribe();
  });

  it('rejects a subscription that fewer than a quorum of masters accept', async () => {
    const { masters, store } = scripted();
    for (const master of masters.slice(1))
      master.subscribe = () => Promise.reject(new Error('down'));
    await expect(store.subscribe(['k'], () => {})).rejects.toBeInstanceOf(
      LockBackendUnavailableError,
    );
  });

  it('gives the LockManager a lock valid for the ttl from when it sent the acquire, less the drift', async () => {
    const { masters, store } = scripted();
    const locks = new LockManager({ store });
    // NOTE: the engine notes the send synchronously within acquire():
    // between these two readings of the clock
    const sentAt = performance.now();
    const pending = locks.acquire('k', { ttl: 1000, waitTimeout: 0 });
    const calledAt = performance.now();
    await sleep(200);
    const answeredAt = performance.now();
    for (const master of masters) master.acquires[0].resolve(grant(1));
    const lock = await pending;
    // when the lock stops being trusted (expiresAt is whole ms, floored)
    const validUntil = lock.expiresAt - performance.timeOrigin;
    expect(validUntil).toBeLessThanOrEqual(calledAt + 1000 - 12 + 0.01);
    expect(validUntil + 1).toBeGreaterThanOrEqual(sentAt + 1000 - 12);
    // (the answer came 200 ms after the send: counting from it would be
    // well past the first bound)
    expect(answeredAt - calledAt).toBeGreaterThanOrEqual(199);
    await locks.close();
  });

  it('closes no store it was given', async () => {
    const { masters, store } = scripted();
    await store.close();
    expect(masters.map((master) => master.closed)).toEqual([
      false,
      false,
      false,
    ]);
  });
});
