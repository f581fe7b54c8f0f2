/**
 * Shutdown order in a Nest application: modules such as TypeORM close their
 * connections in `onApplicationShutdown`. A decorated method still running
 * when the application shuts down must finish with those connections open,
 * so the module waits for it before that phase (in
 * `beforeApplicationShutdown`), wherever the modules sit in the graph.
 */
import {
  Injectable,
  Module,
  type INestApplication,
  type OnApplicationShutdown,
} from '@nestjs/common';
import {
  DISTRIBUTED_LOCK_MANAGER,
  DistributedLock,
  DistributedLockModule,
  DistributedLockService,
  type LockManager,
} from '../lib/index.js';
import { createApp, unique } from './support/nest-apps.js';
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

/** Keeps `process` running until the test lets it end. */
let processGate: Promise<void> = Promise.resolve();
/** Called when `process` starts (under its lock). */
let processStarted: () => void = () => {};

@Injectable()
class Orders {
  constructor(readonly db: Database) {}

  @DistributedLock('order:<id>')
  async process(id: string): Promise<{ id: string; dbOpenAtEnd: boolean }> {
    processStarted();
    await processGate;
    return { id, dbOpenAtEnd: this.db.open };
  }
}

/**
 * Starts `process(id)` and resolves once it runs under its lock (the key
 * set in Redis is not enough: the grant's answer may still be on its way,
 * and close() would then refuse it); `finish` lets it end.
 */
async function processing(app: INestApplication, id: string) {
  let finish!: () => void;
  processGate = new Promise((resolve) => (finish = resolve));
  const started = new Promise<void>((resolve) => (processStarted = resolve));
  const running = app.get(Orders).process(id);
  await started;
  return { running, finish };
}

/** Resolves when the application's shutdown reaches the lock manager. */
function closeBegins(app: INestApplication): Promise<void> {
  const manager = app.get<LockManager>(DISTRIBUTED_LOCK_MANAGER);
  const close = manager.close.bind(manager);
  return new Promise((resolve) => {
    manager.close = () => {
      resolve();
      return close();
    };
  });
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
    (prefix: string) => ({
      imports: [lockModule(prefix), OrdersModule],
    }),
  ],
  [
    'the database module imported first by the root module',
    (prefix: string) => ({
      imports: [DatabaseModule, lockModule(prefix), OrdersModule],
    }),
  ],
])(
  'a decorated method running at shutdown finishes before onApplicationShutdown hooks close resources (%s)',
  async (_name, metadata) => {
    const prefix = unique('order') + ':';
    const app = await createApp('express', metadata(prefix));
    const began = closeBegins(app);
    // NOTE: the method holds its lock when shutdown begins, and ends only
    // after that
    const { running, finish } = await processing(app, '1');
    const closing = app.close();
    await began;
    finish();
    await closing;
    expect(await running).toEqual({ id: '1', dbOpenAtEnd: true });
  },
);

it('new locks are refused once shutdown began, while connections are still open', async () => {
  const prefix = unique('order-c') + ':';
  const app = await createApp('express', {
    imports: [lockModule(prefix), OrdersModule],
  });
  const locks = app.get(DistributedLockService);
  const began = closeBegins(app);
  const { running, finish } = await processing(app, '2');
  const closing = app.close();
  await began;
  const refused = await locks.acquire('order:3').then(
    () => 'granted',
    (error: Error) => error.name,
  );
  finish();
  await closing;
  expect({ refused, result: await running }).toEqual({
    refused: 'LockManagerClosedError',
    result: { id: '2', dbOpenAtEnd: true },
  });
});
