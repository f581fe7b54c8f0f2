/**
 * The quorum store's own options are checked when it is built, like the lock
 * manager's: a drift allowance of the whole lease (or more, or not a number)
 * would turn every grant into a refusal, so that a free key is never taken
 * and waits end in LockWaitTimeoutError (contention) instead of an error
 * that says what is wrong; a master that is neither a URL, a client nor a
 * store (an unset variable) must not quietly become the default Redis.
 */
import { Redis, type RedisOptions } from 'ioredis';
import {
  LockError,
  MemoryLockStore,
  RedlockStore,
  type RedlockMaster,
} from '../../lib/index.js';

const masters = () => [
  new MemoryLockStore(),
  new MemoryLockStore(),
  new MemoryLockStore(),
];

it('rejects a drift factor outside [0, 1) at construction', () => {
  for (const driftFactor of [-0.5, 1, 2, Number.NaN])
    expect(() => new RedlockStore({ masters: masters(), driftFactor })).toThrow(
      /driftFactor must be a number from 0 to below 1/,
    );
  expect(
    () => new RedlockStore({ masters: masters(), driftFactor: 0 }),
  ).not.toThrow();
});

it('rejects a master that is neither a URL, an ioredis client nor a store, before opening anything', () => {
  for (const bad of [undefined, null, '', 42, {}]) {
    const build = () =>
      new RedlockStore({
        masters: [...masters(), bad as unknown as RedlockMaster],
      });
    expect(build).toThrow(LockError);
    expect(build).toThrow(/master/);
  }
});

it('rejects the same master listed twice (one server would count as two votes), before opening anything', () => {
  const store = new MemoryLockStore();
  for (const listed of [
    [store, store, new MemoryLockStore()],
    ['redis://127.0.0.1:1', 'redis://127.0.0.1:1', 'redis://127.0.0.1:2'],
    // the same server: another database, the default port, a password
    ['redis://127.0.0.1:1/0', 'redis://127.0.0.1:1/3', 'redis://127.0.0.1:2'],
    ['redis://127.0.0.1', 'redis://:pw@127.0.0.1:6379', 'redis://127.0.0.1:2'],
  ] as RedlockMaster[][])
    expect(() => new RedlockStore({ masters: listed })).toThrow(
      /the same master twice/,
    );
  // different ports are different servers
  const three = new RedlockStore({
    masters: [
      'redis://127.0.0.1:1',
      'redis://127.0.0.1:2',
      'redis://127.0.0.1:3',
    ],
    redisOptions: { lazyConnect: true },
  });
  return three.close();
});

it('tells ioredis clients apart by their server, unix sockets by their path', async () => {
  const client = (options: RedisOptions) =>
    new Redis({ lazyConnect: true, host: '127.0.0.1', ...options });
  const a = client({ port: 1 });
  const b = client({ port: 1, db: 2 });
  const c = client({ port: 2 });
  const d = client({ path: '/tmp/one.sock' });
  const e = client({ path: '/tmp/two.sock' });
  try {
    expect(() => new RedlockStore({ masters: [a, b, c] })).toThrow(
      /the same master twice/,
    );
    expect(
      () => new RedlockStore({ masters: [a, 'redis://127.0.0.1:2', c] }),
    ).toThrow(/the same master twice/);
    const sockets = new RedlockStore({ masters: [a, d, e] });
    await sockets.close();
  } finally {
    for (const one of [a, b, c, d, e]) one.disconnect();
  }
});
