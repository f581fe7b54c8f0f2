/**
 * Callers waiting in one process for the same key are served by one
 * attempt at a time (the first in line asks Redis for all of them). When
 * Redis stops answering, that attempt fails with LockBackendUnavailableError
 * after the operation timeout, and so must the callers behind it: an outage
 * turns into that error within about the operation timeout, never a hang,
 * and never into LockWaitTimeoutError (contention) after waitTimeout.
 */
import {
  LockBackendUnavailableError,
  LockManager,
  RedisLockStore,
} from '../../lib/index.js';
import { sleep } from '../support/redis-harness.js';
import { useRedis } from '../support/redis-fixture.js';
import { startTcpProxy, type TcpProxy } from '../support/tcp-proxy.js';

const redis = useRedis();
const opened: LockManager[] = [];
let proxy: TcpProxy;

beforeEach(async () => {
  proxy = await startTcpProxy(redis.server.port);
});

afterEach(async () => {
  proxy.mode = 'pass';
  await Promise.all(opened.splice(0).map((locks) => locks.close()));
  await proxy.close();
});

function manager(url: string): LockManager {
  const locks = new LockManager({
    store: new RedisLockStore({ url, operationTimeout: 500 }),
  });
  opened.push(locks);
  return locks;
}

/** Each call's error and when it settled, from `since`. */
function outcomes(calls: Promise<unknown>[], since: () => number) {
  return Promise.all(
    calls.map((call) =>
      call.then(
        () => ({ error: 'granted', ms: performance.now() - since() }),
        (error: Error) => ({
          error: error.name,
          ms: performance.now() - since(),
        }),
      ),
    ),
  );
}

test('callers queued behind the first in line all fail with LockBackendUnavailableError when Redis stops answering', async () => {
  const key = 'edge:outage-line';
  const holder = manager(redis.server.url);
  const held = await holder.acquire(key, { ttl: 60_000 });
  const locks = manager(proxy.url);
  const calls = Array.from({ length: 6 }, () =>
    locks.acquire(key, { ttl: 5000, waitTimeout: 4000 }),
  );
  await sleep(300); // all in line, the first one's place is in Redis
  const cutAt = performance.now();
  proxy.mode = 'blackhole';
  const settled = await outcomes(calls, () => cutAt);
  // the first in line renews its place within a second; that attempt gets
  // no answer within the operation timeout (500 ms)
  expect(settled.map(({ error }) => error)).toEqual(
    Array(6).fill(LockBackendUnavailableError.name),
  );
  expect(Math.max(...settled.map(({ ms }) => ms))).toBeLessThan(2000);
  proxy.mode = 'pass';
  await held.release();
}, 20_000);

test('callers that arrive during a first attempt that gets no answer fail with it', async () => {
  const key = 'edge:outage-burst';
  const locks = manager(proxy.url);
  await (await locks.acquire(key)).release(); // connected, grants live
  proxy.mode = 'blackhole';
  const calledAt = performance.now();
  const calls = Array.from({ length: 6 }, () =>
    locks.acquire(key, { ttl: 5000, waitTimeout: 10_000 }),
  );
  const settled = await outcomes(calls, () => calledAt);
  expect(settled.map(({ error }) => error)).toEqual(
    Array(6).fill(LockBackendUnavailableError.name),
  );
  expect(Math.max(...settled.map(({ ms }) => ms))).toBeLessThan(1000);
}, 20_000);
