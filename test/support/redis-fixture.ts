import { Redis } from 'ioredis';
import { startRedis, type RedisServer } from './redis-harness.js';

/** A Redis server of the spec's own, and a plain client to inspect it. */
export interface RedisFixture {
  readonly server: RedisServer;
  readonly admin: Redis;
}

/**
 * Starts a Redis server before the spec's tests and stops it after them.
 * Read `server` and `admin` inside tests (they exist from `beforeAll` on).
 */
export function useRedis(): RedisFixture {
  let server: RedisServer | undefined;
  let admin: Redis | undefined;
  beforeAll(async () => {
    server = await startRedis();
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
