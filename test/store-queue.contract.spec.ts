/**
 * The wait-queue contract of the queueing stores (Redis and memory): a
 * release hands the lock to the first place in line, places are served in
 * order, a free key goes to the line before any newcomer, and a place can be
 * left (handing on a grant that raced with leaving).
 */
import {
  MemoryLockStore,
  RedisLockStore,
  type GrantNotice,
} from '../lib/index.js';
import { GRANT_LEASE_MS } from '../lib/core/stores/queue-timing.js';
import { sleep } from './support/redis-harness.js';
import { useRedis } from './support/redis-fixture.js';

const redis = useRedis();

interface QueueBackend {
  name: string;
  /** A store for another process: its own place in each line. */
  client(): RedisLockStore | MemoryLockStore;
}

let memory: MemoryLockStore | undefined;
const opened: (RedisLockStore | MemoryLockStore)[] = [];
const backends: QueueBackend[] = [
  {
    name: 'RedisLockStore',
    client: () => new RedisLockStore({ url: redis.server.url }),
  },
  {
    // NOTE: one memory store is one process; its places are per ticket token.
    name: 'MemoryLockStore',
    client: () => (memory ??= new MemoryLockStore()),
  },
];

afterEach(async () => {
  await Promise.all(opened.splice(0).map((store) => store.close()));
  memory = undefined;
});

describe.each(backends)('$name queue', (backend) => {
  let n = 0;
  const key = () => `queue:{k${++n}-${Math.random().toString(36).slice(2)}}`;

  /** A store and the grants it receives. */
  async function client() {
    const store = backend.client();
    if (!opened.includes(store)) opened.push(store);
    const grants: GrantNotice[] = [];
    await store.onGrant((grant) => grants.push(grant));
    const next = async (count: number) => {
      const deadline = Date.now() + 5000;
      while (grants.length < count && Date.now() < deadline) await sleep(2);
      return grants.slice(0, count);
    };
    const grantOf = async (token: string) => {
      const deadline = Date.now() + 5000;
      while (!grants.some((g) => g.token === token) && Date.now() < deadline)
        await sleep(2);
      return grants.find((g) => g.token === token);
    };
    return { store, grants, next, grantOf };
  }

  it('hands a released lock to the queued ticket, with a new fence and the ticket ttl', async () => {
    const k = key();
    const a = await client();
    const b = await client();
    const held = await a.store.acquire([k], 'holder', 5000);
    const refused = await b.store.acquire([k], 'ticketB', 2500, {
      queue: true,
    });
    expect(refused).toMatchObject({ acquired: false });
    expect(await a.store.release([k], 'holder')).toBe('ok');
    const [grant] = await b.next(1);
    expect(grant).toMatchObject({ key: k, token: 'ticketB', ttl: 2500 });
    expect(grant.fence).toBeGreaterThan(held.acquired ? held.fences[0] : 0);
    // the ticket holds the lock now: nobody else gets it, its owner can release it
    expect((await a.store.acquire([k], 'newcomer', 5000)).acquired).toBe(false);
    expect(await b.store.release([k], 'ticketB')).toBe('ok');
    expect((await a.store.acquire([k], 'newcomer', 5000)).acquired).toBe(true);
  });

  it('serves places first come first served', async () => {
    const k = key();
    const holder = await client();
    const [first, second] = [await client(), await client()];
    await holder.store.acquire([k], 'holder', 5000);
    await first.store.acquire([k], 'first', 5000, { queue: true });
    await second.store.acquire([k], 'second', 5000, { queue: true });
    await holder.store.release([k], 'holder');
    expect((await first.next(1)).map((g) => g.token)).toEqual(['first']);
    expect(second.grants.filter((g) => g.token === 'second')).toEqual([]);
    await first.store.release([k], 'first');
    expect(await second.grantOf('second')).toMatchObject({ token: 'second' });
  });

  it('gives a key whose lease ran out to the line, not to a newcomer', async () => {
    const k = key();
    const a = await client();
    const b = await client();
    // NOTE: a lease long enough to be there still when the next request
    // comes, on a loaded machine too
    await a.store.acquire([k], 'holder', 500);
    expect(
      await b.store.acquire([k], 'queued', 5000, { queue: true }),
    ).toMatchObject({ acquired: false });
    await sleep(600); // the holder's lease ran out; nobody released
    const newcomer = await a.store.acquire([k], 'newcomer', 5000);
    expect(newcomer).toMatchObject({ acquired: false });
    expect((await b.next(1)).map((g) => g.token)).toEqual(['queued']);
  });

  it('lets a queued request take its own turn when the key is free', async () => {
    const k = key();
    const a = await client();
    const b = await client();
    await a.store.acquire([k], 'holder', 500);
    expect(
      await b.store.acquire([k], 'queued', 5000, { queue: true }),
    ).toMatchObject({ acquired: false });
    await sleep(600);
    const again = await b.store.acquire([k], 'queued', 5000, { queue: true });
    expect(again.acquired).toBe(true);
    expect(b.grants).toEqual([]);
  });

  it('leaves the rest of the line to be granted by the release of a request that took its own turn', async () => {
    const k = key();
    const a = await client();
    const b = await client();
    const c = await client();
    await a.store.acquire([k], 'holder', 500);
    // in this order: b first in line, c behind it
    const inLine = [
      await b.store.acquire([k], 'queued', 5000, { queue: true }),
      await c.store.acquire([k], 'behind', 5000, { queue: true }),
    ];
    expect(inLine.map((result) => result.acquired)).toEqual([false, false]);
    await sleep(600); // the holder's lease ran out; nobody released
    const turn = await b.store.acquire([k], 'queued', 5000, { queue: true });
    expect(turn.acquired).toBe(true);
    expect(await b.store.release([k], 'queued')).toBe('ok');
    expect(await c.grantOf('behind')).toMatchObject({ token: 'behind' });
  });

  it('takes a place out of line, and hands on a grant that raced with leaving', async () => {
    const k = key();
    const a = await client();
    const b = await client();
    await a.store.acquire([k], 'holder', 5000);
    await b.store.acquire([k], 'left', 5000, { queue: true });
    await b.store.leaveQueue(k, 'left');
    await a.store.release([k], 'holder');
    await sleep(50);
    expect(b.grants).toEqual([]);
    expect((await a.store.acquire([k], 'free', 5000)).acquired).toBe(true);
    // granted just before leaving: leaving gives the lock up
    await b.store.acquire([k], 'late', 5000, { queue: true });
    await a.store.release([k], 'free');
    expect((await b.next(1)).map((g) => g.token)).toEqual(['late']);
    // the grant holds the key until the ticket leaves the line
    expect((await a.store.acquire([k], 'probe', 5000)).acquired).toBe(false);
    await b.store.leaveQueue(k, 'late');
    expect((await a.store.acquire([k], 'after', 5000)).acquired).toBe(true);
  });

  it('hands a held lock to a new token in one step, with a larger fence and the given ttl', async () => {
    const k = key();
    const a = await client();
    const held = await a.store.acquire([k], 'first', 5000);
    const first = held.acquired ? held.fences[0] : Infinity;
    // NOTE: a ttl that outlasts the five round trips below on a loaded
    // machine
    const passed = await a.store.handOff(k, 'first', 'second', 1000);
    expect(passed).toMatchObject({ outcome: 'ok' });
    const fence = passed.outcome === 'ok' ? passed.fence : 0;
    expect(fence).toBeGreaterThan(first);
    // resent after a lost answer: the same answer, nothing else changes
    expect(await a.store.handOff(k, 'first', 'second', 1000)).toEqual({
      outcome: 'ok',
      fence,
    });
    // the old token lost every right; the new one holds the key
    expect(await a.store.release([k], 'first')).toBe('not-owner');
    expect(await a.store.extend([k], 'first', 5000)).toBe('not-owner');
    expect((await a.store.acquire([k], 'newcomer', 5000)).acquired).toBe(false);
    // with the ttl it was given
    await sleep(1100);
    expect((await a.store.acquire([k], 'newcomer', 5000)).acquired).toBe(true);
  });

  it('refuses to hand on a lease the token no longer holds', async () => {
    const k = key();
    const a = await client();
    await a.store.acquire([k], 'gone', 50);
    await sleep(100);
    expect(await a.store.handOff(k, 'gone', 'next', 5000)).toEqual({
      outcome: 'expired',
    });
    expect((await a.store.acquire([k], 'other', 5000)).acquired).toBe(true);
    expect(await a.store.handOff(k, 'gone', 'next', 5000)).toEqual({
      outcome: 'not-owner',
    });
    expect(await a.store.release([k], 'other')).toBe('ok');
  });

  it('keeps the line waiting through a handoff, then serves it on release', async () => {
    const k = key();
    const a = await client();
    const b = await client();
    await a.store.acquire([k], 'holder', 5000);
    await b.store.acquire([k], 'queued', 5000, { queue: true });
    const passed = await a.store.handOff(k, 'holder', 'local', 5000);
    expect(passed).toMatchObject({ outcome: 'ok' });
    // another client is in line: the handoff must not claim otherwise
    expect(passed.outcome === 'ok' && passed.contended).not.toBe(false);
    await sleep(50);
    expect(b.grants).toEqual([]);
    // the line still waits: the handed-on lease's release serves it
    expect(await a.store.release([k], 'local')).toBe('ok');
    // (a grant's first lease is short: see the next test)
    expect(await b.grantOf('queued')).toMatchObject({
      key: k,
      ttl: GRANT_LEASE_MS,
    });
  });

  it('starts a grant with a short lease, so that a ticket whose process just died blocks the key that long, not its whole ttl', async () => {
    const k = key();
    const a = await client();
    const b = await client();
    await a.store.acquire([k], 'holder', 5000);
    await b.store.acquire([k], 'long', 60_000, { queue: true });
    expect(await a.store.release([k], 'holder')).toBe('ok');
    // nobody takes this grant (its process died): the key is free again
    // after GRANT_LEASE_MS, not after 60 s
    expect(await b.grantOf('long')).toMatchObject({ ttl: GRANT_LEASE_MS });
    expect((await a.store.acquire([k], 'next', 5000)).acquired).toBe(false);
    await sleep(GRANT_LEASE_MS + 50);
    expect((await a.store.acquire([k], 'next', 5000)).acquired).toBe(true);
  });

  it('does not queue a request that does not ask to', async () => {
    const k = key();
    const a = await client();
    const b = await client();
    await a.store.acquire([k], 'holder', 5000);
    await b.store.acquire([k], 'try', 5000);
    await a.store.release([k], 'holder');
    await sleep(50);
    expect(b.grants).toEqual([]);
    expect((await b.store.acquire([k], 'try', 5000)).acquired).toBe(true);
  });
});

describe('RedisLockStore queue specifics', () => {
  it('skips the place of a process whose ticket ran out (a dead process)', async () => {
    const k = 'queue:{dead}';
    const stores = [0, 1, 2].map(
      () => new RedisLockStore({ url: redis.server.url }),
    );
    opened.push(...stores);
    const [holder, dead, alive] = stores;
    const grants: string[] = [];
    await alive.onGrant((grant) => grants.push(grant.token));
    await holder.acquire([k], 'holder', 5000);
    await dead.acquire([k], 'dead', 5000, { queue: true });
    await alive.acquire([k], 'alive', 5000, { queue: true });
    // the first process stops renewing its ticket: as if it ran out
    const tickets = await redis.admin.keys(`${k}:t:*`);
    expect(tickets).toHaveLength(2);
    const [first] = await redis.admin.lrange(`${k}:q`, 0, 0);
    await redis.admin.del(`${k}:t:${first}`);
    await holder.release([k], 'holder');
    const deadline = Date.now() + 2000;
    while (grants.length === 0 && Date.now() < deadline) await sleep(2);
    expect(grants).toEqual(['alive']);
    expect(await redis.admin.get(k)).toMatch(/:alive$/);
  });

  it('decides releases and handoffs that share one script call each on its own', async () => {
    const store = new RedisLockStore({ url: redis.server.url });
    opened.push(store);
    const [one, two, passed, gone] = ['one', 'two', 'passed', 'gone'].map(
      (name) => `queue:{mixed-${name}}`,
    );
    await store.acquire([one], 'one', 5000);
    await store.acquire([two, `${two}:b`], 'two', 5000);
    await store.acquire([passed], 'holder', 5000);
    // made in one turn: one release script call
    const answers = await Promise.all([
      store.release([one], 'one'),
      store.handOff(passed, 'holder', 'next', 4000),
      store.release([two, `${two}:b`], 'two'),
      store.handOff(gone, 'nobody', 'next', 4000),
      store.release([one], 'one'),
    ]);
    expect(answers).toEqual([
      'ok',
      { outcome: 'ok', fence: expect.any(Number), contended: false },
      'ok',
      { outcome: 'expired' },
      'expired',
    ]);
    expect(await redis.admin.get(passed)).toMatch(/:next$/);
    expect(await redis.admin.pttl(passed)).toBeLessThanOrEqual(4000);
    expect(await redis.admin.exists(one, two, `${two}:b`)).toBe(0);
  });

  it('takes a ticket out of line even when its queued attempt leaves in the same turn', async () => {
    const k = 'queue:{same-turn-leave}';
    const [a, b] = [0, 1].map(
      () => new RedisLockStore({ url: redis.server.url }),
    );
    opened.push(a, b);
    await b.onGrant(() => {});
    await b.leaveQueue('queue:{warm-up}', 'nothing'); // the script is loaded
    await a.acquire([k], 'holder', 5000);
    // the attempt is still in this turn's batch when the ticket is given up
    const attempt = b.acquire([k], 'given-up', 5000, { queue: true });
    const leaving = b.leaveQueue(k, 'given-up');
    expect(await attempt).toMatchObject({ acquired: false });
    await leaving;
    expect(await redis.admin.llen(`${k}:q`)).toBe(0);
    expect(await redis.admin.keys(`${k}:t:*`)).toEqual([]);
  });

  it('says whether another client is in line when it hands off', async () => {
    const k = 'queue:{contended}';
    const [a, b] = [0, 1].map(
      () => new RedisLockStore({ url: redis.server.url }),
    );
    opened.push(a, b);
    const granted: string[] = [];
    await Promise.all(
      [a, b].map((store) =>
        store.onGrant((grant) => granted.push(grant.token)),
      ),
    );
    await a.acquire([k], 'holder', 5000);
    // only this client's own place in line: nobody else waits
    await a.acquire([k], 'mine', 5000, { queue: true });
    const alone = await a.handOff(k, 'holder', 'next', 5000);
    expect(alone).toMatchObject({ outcome: 'ok', contended: false });
    await b.acquire([k], 'theirs', 5000, { queue: true });
    const shared = await a.handOff(k, 'next', 'third', 5000);
    expect(shared).toMatchObject({ outcome: 'ok', contended: true });
    // the handing-off client's place moved behind the other client's
    expect(await a.release([k], 'third')).toBe('ok');
    // the grant comes through pub/sub
    const deadline = Date.now() + 5000;
    while (granted.length === 0 && Date.now() < deadline) await sleep(2);
    await sleep(50); // a second grant would follow on the same connection
    expect(granted).toEqual(['theirs']);
  });

  it('leaves nothing behind once the line is empty', async () => {
    const k = 'queue:{clean}';
    const [a, b] = [0, 1].map(
      () => new RedisLockStore({ url: redis.server.url }),
    );
    opened.push(a, b);
    await b.onGrant(() => {});
    await a.acquire([k], 'holder', 5000);
    await b.acquire([k], 'queued', 5000, { queue: true });
    await a.release([k], 'holder');
    await sleep(50);
    await b.release([k], 'queued');
    expect(await redis.admin.keys('queue:{clean}*')).toEqual([]);
    await a.acquire([k], 'holder', 5000);
    await a.handOff(k, 'holder', 'next', 5000);
    await a.release([k], 'next');
    expect(await redis.admin.keys('queue:{clean}*')).toEqual([]);
  });
});
