/**
 * An extend that got no answer (a quorum of masters frozen past the
 * operation timeout) may still run once they thaw: the commands wait in
 * their sockets. When it asked for a lease shorter than what the lock had
 * left (a final renewal cut to `maxHold`, or `extend(ms)` by hand), it then
 * cuts the lease on those masters. The lock must not stay trusted until
 * its old, longer validity: once the shorter lease has run out, another
 * process takes the key, and both would hold it.
 */
import { Redis } from 'ioredis';
import {
  LockBackendUnavailableError,
  LockManager,
  RedlockStore,
} from '../../lib/index.js';
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
  for (const server of servers) server.resume();
  admins.forEach((admin) => admin.disconnect());
  await Promise.all(servers.map((server) => server.stop()));
});

function manager(): LockManager {
  return new LockManager({
    store: new RedlockStore({
      masters: servers.map((server) => server.url),
      operationTimeout: 300,
    }),
    prefix: 'test:',
  });
}

it('an unanswered extend to a shorter lease ends the validity no later than that lease would', async () => {
  const [holder, other] = [manager(), manager()];
  try {
    // every master knows the extend script (a command that times out is
    // never sent again as EVAL)
    const warm = await holder.acquire('warm');
    await warm.extend();
    await warm.release();
    await (await other.acquire('warm')).release();
    const lock = await holder.acquire('shorten', { ttl: 30_000 });
    // masters 1 and 2 freeze: the extend reaches master 0 only in time
    servers[1].pause();
    servers[2].pause();
    await expect(lock.extend(1000)).rejects.toBeInstanceOf(
      LockBackendUnavailableError,
    );
    servers[1].resume();
    servers[2].resume();
    // the extend ran on every master on thawing: 1 s leases
    for (const admin of admins) {
      let pttl = await admin.pttl('test:{shorten}');
      for (let i = 0; i < 100 && pttl > 1000; i++) {
        await sleep(20);
        pttl = await admin.pttl('test:{shorten}');
      }
      expect(pttl).toBeLessThanOrEqual(1000);
    }
    await sleep(1200);
    const taken = await other.tryAcquire('shorten', { ttl: 30_000 });
    expect(taken).not.toBeNull();
    // two holders at once would be the failure
    expect({ holder: lock.isHeld, other: taken?.isHeld }).toEqual({
      holder: false,
      other: true,
    });
    await taken?.release();
  } finally {
    for (const server of servers) server.resume();
    await Promise.all([holder.close(), other.close()]);
  }
}, 20_000);
