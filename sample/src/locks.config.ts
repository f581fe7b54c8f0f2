import { Logger } from '@nestjs/common';
import {
  MemoryLockStore,
  type DistributedLockModuleOptions,
} from 'nestjs-distributed-lock';
import { redactUrl, type AppConfig } from './app.config.js';

/** The lock module's options: Redis from `REDIS_URL`, or memory for one process. */
export function lockOptions(config: AppConfig): DistributedLockModuleOptions {
  const logger = new Logger('Locks');
  const defaults = { ttl: 10_000 };
  if (config.redisUrl) {
    logger.log(`Locks: Redis at ${redactUrl(config.redisUrl)}`);
    return { url: config.redisUrl, prefix: 'order-sample:', defaults };
  }
  logger.warn(
    'Locks: REDIS_URL is not set, so locks live in this process only (MemoryLockStore). ' +
      'This mode is for a single process: start every instance with the same REDIS_URL to lock across instances.',
  );
  return { store: new MemoryLockStore(), defaults };
}
