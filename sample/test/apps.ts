/**
 * Instances of the sample app for the e2e specs: Nest applications in this
 * process, each with its own lock module (its own Redis connections), on one
 * Redis and one database, listening on loopback ports.
 */
import { PGlite } from '@electric-sql/pglite';
import type { INestApplication } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import type { AppConfig } from '../src/app.config.js';
import { PgliteWireServer } from '../src/database/pglite-wire-server.js';
import {
  startRedis,
  type RedisServer,
} from '../../test/support/redis-harness.js';

// NOTE: read by the expiry job when its module loads: sweep every second.
process.env.EXPIRY_SWEEP_SECONDS = '1';
const { AppModule } = await import('../src/app.module.js');

export interface Instance {
  readonly app: INestApplication;
  readonly url: string;
}

/** One Redis and one PGlite database served over the wire, as in the demo. */
export interface Cluster {
  readonly redis: RedisServer;
  readonly instances: Instance[];
  stop(): Promise<void>;
}

export async function startInstance(
  config: Partial<AppConfig>,
): Promise<Instance> {
  const moduleRef = await Test.createTestingModule({
    imports: [
      AppModule.forRoot({
        port: 0,
        paymentWindowMs: 600_000,
        databasePoolSize: 4,
        ...config,
      }),
    ],
  }).compile();
  const app = moduleRef.createNestApplication({ logger: ['error'] });
  await app.listen(0, '127.0.0.1');
  return { app, url: (await app.getUrl()).replace('[::1]', '127.0.0.1') };
}

/** `count` instances on a Redis and a shared database of their own. */
export async function startCluster(
  count: number,
  config: Partial<AppConfig> = {},
): Promise<Cluster> {
  const redis = await startRedis();
  const db = await PGlite.create();
  const server = await PgliteWireServer.start(db);
  const instances: Instance[] = [];
  const stop = async () => {
    await Promise.all(instances.map(({ app }) => app.close()));
    await server.stop();
    await db.close();
    await redis.stop();
  };
  try {
    // NOTE: one after the other: the first creates the schema.
    for (let i = 0; i < count; i++)
      instances.push(
        await startInstance({
          ...config,
          redisUrl: redis.url,
          databaseUrl: server.url,
        }),
      );
  } catch (error) {
    await stop();
    throw error;
  }
  return { redis, instances, stop };
}

let counter = 0;
/** An item id unique to this run. */
export function uniqueItemId(name: string): string {
  return `${name}-${++counter}-${Date.now().toString(36)}`;
}
