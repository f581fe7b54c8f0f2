/**
 * A client passed in by the user with `enableOfflineQueue: false`
 * (the usual ioredis setting to fail fast while disconnected), connected
 * and ready. The store opens its subscriber connection (a duplicate of that
 * client) on first use and subscribes at once: with the offline queue off,
 * that SUBSCRIBE fails while the new connection is still being made, so the
 * first lock calls fail with LockBackendUnavailableError although Redis
 * answers.
 */
import { Redis } from 'ioredis';
import { LockManager, RedisLockStore } from '../../lib/index.js';
import { useRedis } from '../support/redis-fixture.js';

const redis = useRedis();

test('the first acquire on a ready client of your own without an offline queue is granted', async () => {
  const client = new Redis(redis.server.url, {
    enableOfflineQueue: false,
    commandTimeout: 1000,
  });
  await new Promise((resolve) => client.once('ready', resolve));
  const locks = new LockManager({ store: new RedisLockStore({ client }) });
  try {
    const lock = await locks.acquire('edge:offline-queue');
    expect(lock.isHeld).toBe(true);
    // a wait in line needs the grants (the subscriber) too
    const waiting = locks.acquire('edge:offline-queue', {
      waitTimeout: 2000,
    });
    await lock.release();
    await (await waiting).release();
  } finally {
    await locks.close();
    client.disconnect();
  }
});
