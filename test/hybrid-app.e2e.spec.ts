/**
 * In a hybrid application (HTTP + connectMicroservice with inheritAppConfig,
 * as the README says), lock errors of RPC handlers are mapped like those of
 * a standalone microservice.
 */
import { Controller, type INestApplication } from '@nestjs/common';
import {
  ClientProxyFactory,
  MessagePattern,
  Transport,
  type ClientProxy,
} from '@nestjs/microservices';
import { Test } from '@nestjs/testing';
import { lastValueFrom } from 'rxjs';
import {
  DistributedLock,
  DistributedLockModule,
  DistributedLockService,
} from '../lib/index.js';
import { unique } from './support/nest-apps.js';
import { freePort } from './support/redis-harness.js';
import { useRedis } from './support/redis-fixture.js';

const redis = useRedis();

@Controller()
class PaymentsHandler {
  @MessagePattern('pay')
  @DistributedLock('payment:<data.id>')
  async pay(data: { id: string }): Promise<string> {
    return `paid ${data.id}`;
  }
}

// NOTE: without inheritAppConfig, Nest gives the microservice no global
// interceptor (documented in the README's "Errors at the edge").
describe.each([['inheritAppConfig: true', { inheritAppConfig: true }]])(
  'an RPC handler of a hybrid application (%s)',
  (_, hybridOptions) => {
    let app: INestApplication;
    let client: ClientProxy;

    afterAll(async () => {
      await client?.close();
      await app?.close();
    });

    it('answers contention with the 409 payload, as the README says', async () => {
      const port = await freePort();
      const moduleRef = await Test.createTestingModule({
        imports: [
          DistributedLockModule.forRoot({
            url: redis.server.url,
            prefix: unique('hy') + ':',
          }),
        ],
        controllers: [PaymentsHandler],
      }).compile();
      app = moduleRef.createNestApplication({ logger: false });
      app.connectMicroservice(
        {
          transport: Transport.TCP,
          options: { host: '127.0.0.1', port },
        },
        hybridOptions,
      );
      await app.startAllMicroservices();
      await app.init();
      client = ClientProxyFactory.create({
        transport: Transport.TCP,
        options: { host: '127.0.0.1', port },
      });
      await client.connect();
      await app.get(DistributedLockService).acquire('payment:p-1');
      const answer = await lastValueFrom(
        client.send<string>('pay', { id: 'p-1' }),
      ).catch((error: unknown) => error);
      expect(answer).toMatchObject({ status: 'error', statusCode: 409 });
    });
  },
);
