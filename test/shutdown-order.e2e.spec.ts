/**
 * Shutdown order in a Nest application: modules such as TypeORM close their
 * connections in `onApplicationShutdown`. A decorated method still running
 * when the application shuts down must finish with those connections open,
 * so the module waits for it before that phase (in
 * `beforeApplicationShutdown`), wherever the modules sit in the graph.
 */
import { Injectable, Module, type OnApplicationShutdown } from '@nestjs/common';
import {
  DistributedLock,
  DistributedLockModule,
  DistributedLockService,
} from '../lib/index.js';
import { createApp, sleep, unique } from './support/nest-apps.js';
import { useRedis } from './support/redis-fixture.js';

const redis = useRedis();

/** Stands for a connection pool that its module closes at shutdown. */
@Injectable()
class Database implements OnApplicationShutdown {
  open = true;
  onApplicationShutdown(): void {
    this.open = false;
  }
}

@Module({ providers: [Database], exports: [Database] })
class DatabaseModule {}

@Injectable()
class Orders {
  constructor(readonly db: Database) {}

  @DistributedLock('order:<id>')
  async process(id: string): Promise<{ id: string; dbOpenAtEnd: boolean }> {
    await sleep(300);
    return { id, dbOpenAtEnd: this.db.open };
  }
}

@Module({ imports: [DatabaseModule], providers: [Orders], exports: [Orders] })
class OrdersModule {}

const lockModule = (prefix: string) =>
  DistributedLockModule.forRoot({
    isGlobal: true,
    url: redis.server.url,
    prefix,
  });

it.each([
  [
    'the database module imported by the feature module',
    () => ({
      imports: [lockModule(unique('order-a') + ':'), OrdersModule],
    }),
  ],
  [
    'the database module imported first by the root module',
    () => ({
      imports: [
        DatabaseModule,
        lockModule(unique('order-b') + ':'),
        OrdersModule,
      ],
    }),
  ],
])(
  'a decorated method running at shutdown finishes before onApplicationShutdown hooks close resources (%s)',
  async (_name, metadata) => {
    const app = await createApp('express', metadata());
    const running = app.get(Orders).process('1');
    await sleep(50);
    await app.close();
    expect(await running).toEqual({ id: '1', dbOpenAtEnd: true });
  },
);

it('new locks are refused once shutdown began, while connections are still open', async () => {
  const prefix = unique('order-c') + ':';
  const app = await createApp('express', {
    imports: [lockModule(prefix), OrdersModule],
  });
  const locks = app.get(DistributedLockService);
  const running = app.get(Orders).process('2');
  await sleep(50);
  const closing = app.close();
  await sleep(50);
  const refused = await locks.acquire('order:3').then(
    () => 'granted',
    (error: Error) => error.name,
  );
  await closing;
  expect({ refused, result: await running }).toEqual({
    refused: 'LockManagerClosedError',
    result: { id: '2', dbOpenAtEnd: true },
  });
});
