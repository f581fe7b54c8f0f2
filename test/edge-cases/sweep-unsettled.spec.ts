/**
 * The manager stops tracking locks left to run out (see sweepHeld), but
 * never one that a command may still give a lease: a handoff or an acquire
 * that a stalled server runs late. close() must release those.
 */
import { Redis } from 'ioredis';
import { LockManager, RedisLockStore, RedlockStore } from '../../lib/index.js';
import { CountingQueueingStore } from '../support/counting-store.js';
import {
  sleep,
  startRedis,
  type RedisServer,
} from '../support/redis-harness.js';

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

/** Enough unrelated locks, held, to make the manager sweep. */
async function sweepNow(locks: LockManager, tag: string): Promise<void> {
  await Promise.all(
    Array.from({ length: 1100 }, (_, i) =>
      locks.tryAcquire(`sweep:${tag}:${i}`, { ttl: 30_000 }),
    ),
  );
}

test('a lock passed on while Redis stalled, whose handoff ran late, is still released by close()', async () => {
  const redisStore = new RedisLockStore({ url: servers[0].url });
  const store = new CountingQueueingStore(redisStore);
  const locks = new LockManager({ store });
  const first = await locks.acquire('sweep:handoff', { ttl: 30_000 });
  const waiting = locks.acquire('sweep:handoff', {
    ttl: 1000,
    waitTimeout: 20_000,
  });
  // NOTE: the waiter is in line before Redis stalls (its attempt answered)
  await store.untilAnswered(2);
  servers[0].pause();
  const released = first.release().catch(() => 'failed');
  const second = await waiting; // passed on at once, ahead of the store
  await sleep(4000); // every handoff attempt times out (1 s each)...
  servers[0].resume(); // ...and then runs: the lease moves to `second`
  await released;
  // a command behind them on the same connection: the late handoffs ran
  await redisStore.client.ping();
  const owner = await admins[0].get('lock:{sweep:handoff}');
  await sweepNow(locks, 'handoff');
  await locks.close();
  expect({
    movedLate: owner?.endsWith(second.token),
    leaseAfterClose: await admins[0].pttl('lock:{sweep:handoff}'),
  }).toEqual({ movedLate: true, leaseAfterClose: -2 });
}, 30_000);

test('a quorum grant that a stalled master ran late is still released there by close()', async () => {
  const quorum = new RedlockStore({
    masters: servers.map((server) => server.url),
  });
  const locks = new LockManager({ store: quorum });
  await (await locks.acquire('sweep:warm')).release();
  servers[2].pause();
  const lock = await locks.acquire('sweep:quorum', {
    ttl: 1000,
    autoRenew: false,
  });
  await sleep(3500); // the lease on the two others is over...
  servers[2].resume(); // ...and the stalled master sets one now
  // a command behind it on the same connection: the late acquire ran
  await (quorum.stores[2] as RedisLockStore).client.ping();
  const late = await admins[2].get('lock:{sweep:quorum}');
  await sweepNow(locks, 'quorum');
  await locks.close();
  expect({
    grantedLate: late?.endsWith(lock.token),
    leaseAfterClose: await admins[2].pttl('lock:{sweep:quorum}'),
  }).toEqual({ grantedLate: true, leaseAfterClose: -2 });
}, 30_000);
