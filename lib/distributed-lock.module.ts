import { Module } from '@nestjs/common';
import {
  DISTRIBUTED_LOCK_MANAGER,
  DISTRIBUTED_LOCK_OPTIONS,
} from './distributed-lock.constants.js';
import { ConfigurableDistributedLockModule } from './distributed-lock.module-definition.js';
import { DistributedLockService } from './distributed-lock.service.js';

/**
 * Distributed locks on Redis for a Nest application: provides
 * {@link DistributedLockService} (and the engine under
 * `DISTRIBUTED_LOCK_MANAGER`), makes `@DistributedLock` work on the classes
 * of the modules that import it, and maps lock errors to the transport.
 *
 * @example
 * DistributedLockModule.forRoot({ url: 'redis://127.0.0.1:6379', defaults: { ttl: 10_000 } })
 *
 * DistributedLockModule.forRootAsync({
 *   isGlobal: true,
 *   inject: [ConfigService],
 *   useFactory: (config: ConfigService) => ({ url: config.getOrThrow('REDIS_URL') }),
 * })
 */
@Module({
  providers: [
    DistributedLockService,
    {
      provide: DISTRIBUTED_LOCK_MANAGER,
      useFactory: (service: DistributedLockService) => service.manager,
      inject: [DistributedLockService],
    },
  ],
  // NOTE: the options provider comes from forRoot/forRootAsync; exported so
  // that @InjectDistributedLockOptions() works where the module is seen.
  exports: [
    DistributedLockService,
    DISTRIBUTED_LOCK_MANAGER,
    DISTRIBUTED_LOCK_OPTIONS,
  ],
})
export class DistributedLockModule extends ConfigurableDistributedLockModule {}
