/**
 * A lock granted by masters 0 and 1 (master 2 refused: a stale lease
 * of another owner, which then ran out). Master 1 freezes for a moment: a
 * minority. The renewal then hears `ok` from master 0, `expired` from master
 * 2 (which never held this lock) and nothing from master 1. That is no
 * answer about the quorum (master 1 may well hold the lease), not a lost lock:
 * renewal must retry while the lease lasts, as with any outage.
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
import { ScriptedStore } from '../support/scripted-store.js';

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

it('a lock held on two of three masters survives one of them freezing for 900 ms (renewal retries instead of losing it)', async () => {
  const store = new RedlockStore({
    masters: servers.map((server) => server.url),
    operationTimeout: 300,
  });
  const locks = new LockManager({ store, prefix: 'test:' });
  await (await locks.acquire('warm')).release();
  const storeKey = 'test:{minority}';
  // a stale lease of another owner on master 2, ending in 200 ms
  await admins[2].set(storeKey, '1:foreign', 'PX', 200);
  const outcome = await locks
    .using(
      'minority',
      async (lock) => {
        expect(await admins[2].get(storeKey)).toMatch(/:foreign$/);
        // renewal at 1000 ms; master 1 frozen from 600 to 1500 ms, past
        // the renewal's 300 ms operation timeout
        await sleep(600);
        servers[1].pause();
        await sleep(900);
        servers[1].resume();
        await sleep(500);
        return lock.isHeld ? 'held' : `lost (${lock.lostReason})`;
      },
      { ttl: 3000 },
    )
    .catch((error: Error) => `${error.name}: ${error.message}`);
  servers[1].resume();
  await locks.close();
  expect(outcome).toBe('held');
}, 20_000);

it.each(['extend', 'release'] as const)(
  '%s answered ok, expired and a failure is an outage, not a lost lock',
  async (kind) => {
    const masters = [
      new ScriptedStore(),
      new ScriptedStore(),
      new ScriptedStore(),
    ];
    const store = new RedlockStore({ masters });
    if (kind === 'extend') {
      const pending = store.extend(['k'], 'token', 10_000);
      masters[0].extensions[0].resolve('ok');
      masters[1].extensions[0].reject(new LockBackendUnavailableError('down'));
      masters[2].extensions[0].resolve('expired');
      await expect(pending).rejects.toBeInstanceOf(LockBackendUnavailableError);
    } else {
      masters[1].releaseAnswer = new LockBackendUnavailableError('down');
      masters[2].releaseAnswer = 'expired';
      await expect(store.release(['k'], 'token')).rejects.toBeInstanceOf(
        LockBackendUnavailableError,
      );
    }
  },
);
