import { Redis } from 'ioredis';
import { sharedRedis, startRedis, type RedisServer } from './redis-harness.js';

/** A Redis server of the spec's own, and a plain client to inspect it. */
export interface RedisFixture {
  readonly server: RedisServer;
  readonly admin: Redis;
}

/**
 * A Redis for the spec's tests: `REDIS_URL` when set, else a server of the
 * spec's own, started before its tests and stopped after them. Pass
 * `{ own: true }` for a spec that must kill, pause or restart the server.
 * Read `server` and `admin` inside tests (they exist from `beforeAll` on).
 */
export function useRedis(options: { own?: boolean } = {}): RedisFixture {
  let server: RedisServer | undefined;
  let admin: Redis | undefined;
  beforeAll(async () => {
    server = await (options.own ? startRedis() : sharedRedis());
    admin = new Redis(server.url);
  });
  afterAll(async () => {
    admin?.disconnect();
    await server?.stop();
  });
  const ready = <T>(value: T | undefined): T => {
    if (value === undefined)
      throw new Error('useRedis(): read it inside a test or hook');
    return value;
  };
  return {
    get server() {
      return ready(server);
    },
    get admin() {
      return ready(admin);
    },
  };
}
