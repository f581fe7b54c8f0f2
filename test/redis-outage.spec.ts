/**
 * A Redis that stops answering: operations fail fast with a typed error, no
 * orphan lease is left by an abandoned acquire, and the same manager works
 * again once Redis is back.
 */
import { Redis } from 'ioredis';
import {
  LockBackendUnavailableError,
  LockManager,
  RedisLockStore,
} from '../lib/index.js';
import {
  sleep,
  startRedis,
  type RedisServer,
} from './support/redis-harness.js';
import { startTcpProxy } from './support/tcp-proxy.js';

let server: RedisServer;

beforeEach(async () => {
  server = await startRedis();
});

afterEach(async () => {
  server.resume();
  await server.stop();
});

function timed<T>(work: Promise<T>): Promise<{ ms: number; error: unknown }> {
  const startedAt = performance.now();
  return work.then(
    () => ({ ms: performance.now() - startedAt, error: undefined }),
    (error: unknown) => ({ ms: performance.now() - startedAt, error }),
  );
}

it('fails fast while Redis is down and works again, without a restart, once it is back', async () => {
  const locks = new LockManager({
    store: new RedisLockStore({ url: server.url, operationTimeout: 1000 }),
    prefix: 'out:',
  });
  await (await locks.acquire('a')).release();

  await server.kill();
  const down = await timed(locks.acquire('a', { waitTimeout: 10_000 }));
  expect(down.error).toBeInstanceOf(LockBackendUnavailableError);
  expect(down.ms).toBeLessThan(2500);

  await server.restart();
  let lock;
  for (let attempt = 0; !lock && attempt < 50; attempt++) {
    lock = await locks
      .acquire('a')
      .catch(() => sleep(100).then(() => undefined));
  }
  expect(lock?.isHeld).toBe(true);
  await lock!.release();
  await locks.close();
});

it('fails fast when Redis never answered at all', async () => {
  const port = server.port;
  await server.kill();
  const locks = new LockManager({
    store: new RedisLockStore({
      url: `redis://127.0.0.1:${port}`,
      operationTimeout: 500,
    }),
  });
  const result = await timed(locks.tryAcquire('never'));
  expect(result.error).toBeInstanceOf(LockBackendUnavailableError);
  expect(result.ms).toBeLessThan(1500);
  await locks.close();
});

it('releases an acquire that timed out while Redis was frozen, once Redis answers again', async () => {
  const admin = new Redis(server.url);
  const locks = new LockManager({
    store: new RedisLockStore({ url: server.url, operationTimeout: 300 }),
    prefix: 'out:',
  });
  await (await locks.acquire('frozen')).release(); // connected and scripts loaded
  server.pause();
  const frozen = await timed(locks.acquire('frozen', { ttl: 60_000 }));
  expect(frozen.error).toBeInstanceOf(LockBackendUnavailableError);
  server.resume();
  // the acquire still ran when Redis woke up; the release by token follows
  // it on the same connection, and close() ends with a QUIT behind both
  await locks.close();
  const value = await admin.get('out:{frozen}');
  expect(value).toBeNull();
  const other = new LockManager({
    store: new RedisLockStore({ url: server.url }),
    prefix: 'out:',
  });
  expect(await other.tryAcquire('frozen')).not.toBeNull();
  await Promise.all([locks.close(), other.close(), admin.quit()]);
});

it('never sends an abandoned acquire again after a reconnect: no orphan lease once the network is back', async () => {
  const proxy = await startTcpProxy(server.port);
  const admin = new Redis(server.url);
  const locks = new LockManager({
    store: new RedisLockStore({ url: proxy.url, operationTimeout: 300 }),
    prefix: 'out:',
  });
  try {
    await (await locks.acquire('resent')).release(); // connected, scripts loaded
    proxy.mode = 'blackhole'; // the acquire never reaches Redis...
    const attempt = await timed(locks.tryAcquire('resent', { ttl: 60_000 }));
    expect(attempt.error).toBeInstanceOf(LockBackendUnavailableError);
    proxy.drop(); // ...then the connection breaks,
    proxy.mode = 'down'; // stays down past the release-by-token retries,
    await sleep(2500);
    proxy.mode = 'pass'; // and comes back
    await sleep(1000);
    // the abandoned acquire must not run now, with nobody left to release it
    expect(await admin.get('out:{resent}')).toBeNull();
  } finally {
    await Promise.all([locks.close(), admin.quit()]);
    await proxy.close();
  }
});

it('bounds the first subscription too, on a client of your own without commandTimeout', async () => {
  const client = new Redis(server.url);
  await client.ping();
  const locks = new LockManager({
    store: new RedisLockStore({ client, operationTimeout: 300 }),
    prefix: 'out:',
  });
  server.pause(); // before this process ever subscribed
  const frozen = await timed(locks.acquire('sub', { waitTimeout: 5000 }));
  expect({
    error: frozen.error,
    fast: frozen.ms < 2000 ? 'within 2 s' : `${Math.round(frozen.ms)} ms`,
  }).toEqual({
    error: expect.any(LockBackendUnavailableError),
    fast: 'within 2 s',
  });
  server.resume();
  await locks.close();
  client.disconnect();
});

it('bounds close() while Redis is frozen, on a client of your own without commandTimeout', async () => {
  const client = new Redis(server.url);
  const locks = new LockManager({
    store: new RedisLockStore({ client, operationTimeout: 300 }),
    prefix: 'out:',
  });
  try {
    // a wait opens the subscriber connection (a duplicate of the client)
    const held = await locks.acquire('close-frozen');
    const waiting = locks
      .acquire('close-frozen', { waitTimeout: 5000 })
      .catch(() => undefined);
    await sleep(100);
    await held.release();
    await (await waiting)?.release();
    server.pause();
    const closing = await timed(locks.close());
    expect(
      closing.ms < 2000 ? 'within 2 s' : `${Math.round(closing.ms)} ms`,
    ).toBe('within 2 s');
  } finally {
    server.resume();
    client.disconnect();
  }
});

it('lets a waiting acquire work once Redis is up, after the first wait failed while it was down', async () => {
  const port = server.port;
  await server.kill();
  const locks = new LockManager({
    store: new RedisLockStore({
      url: `redis://127.0.0.1:${port}`,
      operationTimeout: 500,
    }),
    prefix: 'out:',
  });
  const down = await timed(locks.acquire('late', { waitTimeout: 2000 }));
  expect(down.error).toBeInstanceOf(LockBackendUnavailableError);

  await server.restart();
  // a wait subscribes to grant notices first: a subscription that failed
  // while Redis was down must be asked for again, not remembered
  let lock;
  for (let attempt = 0; !lock && attempt < 50; attempt++) {
    lock = await locks
      .acquire('late', { waitTimeout: 2000 })
      .catch(() => sleep(100).then(() => undefined));
  }
  expect(lock?.isHeld).toBe(true);
  await lock!.release();
  await locks.close();
});

it('subscribes again after a restart, and a server that refuses SUBSCRIBE then leaves no unhandled rejection', async () => {
  const store = new RedisLockStore({ url: server.url, operationTimeout: 1000 });
  const admin = () => new Redis(server.url);
  const channels = async () => {
    const client = admin();
    try {
      return ((await client.pubsub('CHANNELS')) as string[]).sort();
    } finally {
      client.disconnect();
    }
  };
  const clients = async () => {
    const client = admin();
    try {
      const list = (await client.client('LIST')) as string;
      return list.trim().split('\n').length - 1; // without this admin
    } finally {
      client.disconnect();
    }
  };
  try {
    const notices: string[] = [];
    await store.subscribe(['notice-key'], (key) => notices.push(key));
    await store.onGrant(() => {});
    const subscribed = await channels();
    expect(subscribed).toHaveLength(2);

    // the store's connections come back to a server that refuses SUBSCRIBE:
    // the resubscription fails, and the failure must be handled (jest fails
    // a test on an unhandled rejection)
    await server.kill();
    await server.restart(['--rename-command', 'SUBSCRIBE', 'refused']);
    for (let i = 0; i < 100 && (await clients()) < 2; i++) await sleep(50);
    expect(await clients()).toBeGreaterThanOrEqual(2);
    await sleep(200);
    expect(await channels()).toEqual([]);

    await server.kill();
    await server.restart();
    let now: string[] = [];
    for (let i = 0; i < 100; i++) {
      now = await channels();
      if (now.length === subscribed.length) break;
      await sleep(50);
    }
    expect(now).toEqual(subscribed);
    // and messages reach the listener on the new connection
    const publisher = admin();
    const releaseChannel = subscribed.find((name) =>
      name.includes('notice-key'),
    )!;
    await publisher.publish(releaseChannel, '7');
    publisher.disconnect();
    for (let i = 0; i < 40 && notices.length === 0; i++) await sleep(25);
    expect(notices).toEqual(['notice-key']);
  } finally {
    await store.close();
  }
});
