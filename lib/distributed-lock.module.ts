import { Module, type CallHandler, type NestInterceptor } from '@nestjs/common';
import { APP_INTERCEPTOR, HttpAdapterHost } from '@nestjs/core';
import { DISTRIBUTED_LOCK_MANAGER } from './distributed-lock.constants.js';
import { DistributedLockInterceptor } from './distributed-lock.interceptor.js';
import { ConfigurableDistributedLockModule } from './distributed-lock.module-definition.js';
import { DistributedLockService } from './distributed-lock.service.js';

/** Stands in for the interceptor when `mapErrors` is off (the provider list is static under `forRootAsync`). */
const passThrough: NestInterceptor = {
  intercept: (_context, next: CallHandler) => next.handle(),
};

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
    {
      provide: APP_INTERCEPTOR,
      useFactory: (
        service: DistributedLockService,
        adapterHost: HttpAdapterHost,
      ) =>
        service.options.mapErrors
          ? new DistributedLockInterceptor(adapterHost)
          : passThrough,
      inject: [DistributedLockService, HttpAdapterHost],
    },
  ],
  exports: [DistributedLockService, DISTRIBUTED_LOCK_MANAGER],
})
export class DistributedLockModule extends ConfigurableDistributedLockModule {}
