/**
 * close() of the quorum store while an acquire is still undecided
 * (two masters split, the third frozen). The round is decided after close()
 * started; its give-back must still reach the masters, or the grants it got
 * block the key for the whole ttl with nobody holding the lock.
 */
import { Redis } from 'ioredis';
import { RedlockStore } from '../../lib/index.js';
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

it('gives back the grants of an acquire that close() interrupted while it was undecided', async () => {
  const store = new RedlockStore({
    masters: servers.map((server) => server.url),
  });
  // connect to every master first
  expect((await store.acquire(['warm'], 'warm', 1000)).acquired).toBe(true);
  expect(await store.release(['warm'], 'warm')).toBe('ok');
  const key = 'k-close';
  await admins[1].set(key, 'foreign', 'PX', 60_000);
  servers[2].pause();
  const pending = store.acquire([key], 'token', 30_000);
  pending.catch(() => {});
  // master 0 granted, master 1 refused: master 2 decides
  for (let i = 0; i < 500 && !(await admins[0].get(key)); i++) await sleep(10);
  expect(await admins[0].get(key)).toMatch(/:token$/);
  const closed = store.close();
  const result = await pending.catch((error: unknown) => error);
  await closed;
  servers[2].resume();
  // master 2 runs what the closed connection still carried (the acquire,
  // then the give-back) before it drops that connection: wait until only
  // the admin client is left
  const others = async () =>
    ((await admins[2].client('LIST')) as string).trim().split('\n').length - 1;
  for (let i = 0; i < 500 && (await others()) > 0; i++) await sleep(10);
  expect({
    result: result instanceof Error ? 'rejected' : result,
    leaseOnMaster0: await admins[0].pttl(key),
    leaseOnMaster2: await admins[2].pttl(key),
  }).toEqual({
    result: expect.anything(),
    leaseOnMaster0: -2,
    leaseOnMaster2: -2,
  });
}, 20_000);
