/**
 * close() racing with calls in flight: an acquire granted after close() began
 * is handed back (not given to the caller, not renewed), and a wait that
 * would start after close() fails at once.
 */
import { Redis } from 'ioredis';
import {
  LockManager,
  MemoryLockStore,
  RedisLockStore,
  type LockStore,
} from '../../lib/index.js';
import { sleep } from '../support/redis-harness.js';
import { useRedis } from '../support/redis-fixture.js';

const redis = useRedis();

test('an acquire in flight during close() is not granted, and leaves nothing held', async () => {
  const client = new Redis(redis.server.url, { commandTimeout: 1000 });
  await client.ping();
  const locks = new LockManager({ store: new RedisLockStore({ client }) });
  try {
    const pending = locks.acquire('edge:close', { ttl: 300, autoRenew: true });
    const settled = pending.then(
      (lock) => `granted (held=${lock.isHeld})`,
      (error: Error) => `rejected: ${error.message}`,
    );
    await locks.close();
    await sleep(1000); // > 3 x ttl: only a renewal could keep the key alive
    const value = await redis.admin.get('lock:{edge:close}');
    expect({ outcome: await settled, value }).toEqual({
      outcome: expect.stringMatching(/^rejected/),
      value: null,
    });
  } finally {
    client.disconnect();
  }
});

test('a wait that starts after close() began fails at once instead of waiting out waitTimeout', async () => {
  const client = new Redis(redis.server.url, { commandTimeout: 1000 });
  await client.ping();
  await redis.admin.set(
    'lock:{edge:close-wait}',
    '1:someone-else',
    'PX',
    10_000,
  );
  const locks = new LockManager({ store: new RedisLockStore({ client }) });
  try {
    const started = performance.now();
    // NOTE: a long waitTimeout sets failing at once far apart from waiting
    // it out, on a loaded machine too
    const pending = locks
      .acquire('edge:close-wait', { waitTimeout: 10_000 })
      .catch((e: Error) => e.name);
    await locks.close(); // the fast-path attempt is in flight; its failure then starts a wait
    const outcome = await pending;
    expect({
      outcome,
      waitedMs:
        Math.round(performance.now() - started) < 5000
          ? 'fast'
          : 'waited out waitTimeout',
    }).toEqual({ outcome: 'LockManagerClosedError', waitedMs: 'fast' });
  } finally {
    client.disconnect();
  }
});

test('a release made in the same turn as the store closes is still sent', async () => {
  const store = new RedisLockStore({ url: redis.server.url });
  const held = await store.acquire(['edge:close-flush'], 'holder', 10_000);
  expect(held.acquired).toBe(true);
  const released = store.release(['edge:close-flush'], 'holder');
  await store.close();
  expect(await released).toBe('ok');
  expect(await redis.admin.exists('edge:close-flush')).toBe(0);
});

test('close() called twice while a call is in flight: both wait for its answer, then end', async () => {
  const store = new RedisLockStore({ url: redis.server.url });
  await store.acquire(['edge:{close-twice}'], 'a', 5000);
  const released = store.release(['edge:{close-twice}'], 'a');
  const closes = Promise.all([store.close(), store.close()]);
  const outcome = await Promise.race([
    closes.then(() => 'closed'),
    sleep(2000).then(() => 'hung'),
  ]);
  expect({ outcome, released: await released }).toEqual({
    outcome: 'closed',
    released: 'ok',
  });
  expect(await redis.admin.get('edge:{close-twice}')).toBeNull();
});

test('close() ends even when a store throws instead of rejecting, in a give-back during close', async () => {
  const memory = new MemoryLockStore();
  // a custom store that breaks the contract: a late acquire, a release that throws
  const store: LockStore = {
    acquire: (keys, token, ttl) =>
      sleep(50).then(() => memory.acquire(keys, token, ttl)),
    extend: (keys, token, ttl) => memory.extend(keys, token, ttl),
    release: () => {
      throw new Error('broken store');
    },
    subscribe: (keys, listener) => memory.subscribe(keys, listener),
    close: () => memory.close(),
  };
  const locks = new LockManager({ store });
  const pending = locks.acquire('edge:close-throws').catch(() => 'rejected');
  const outcome = await Promise.race([
    locks.close().then(() => 'closed'),
    sleep(2000).then(() => 'hung'),
  ]);
  expect({ outcome, acquire: await pending }).toEqual({
    outcome: 'closed',
    acquire: 'rejected',
  });
});
