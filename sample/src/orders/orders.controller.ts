import {
  BadRequestException,
  Body,
  Controller,
  Get,
  HttpCode,
  Param,
  ParseUUIDPipe,
  Post,
  type PipeTransform,
} from '@nestjs/common';
import { DistributedLock } from 'nestjs-distributed-lock';
import { readCreateOrder } from './create-order.js';
import type { Order } from './order.js';
import { OrdersService } from './orders.service.js';

const orderId = new ParseUUIDPipe({
  version: '4',
  exceptionFactory: () =>
    new BadRequestException(
      'Invalid order id: use the id returned when the order was created (a UUID).',
    ),
});

/**
 * One spelling per order: PostgreSQL reads a UUID in any case, so the lock
 * key `order:<id>` must not tell `ABC…` from `abc…` either, or two payments
 * of one order would take two different locks.
 */
const canonical: PipeTransform<string, string> = {
  transform: (value) => value.toLowerCase(),
};

@Controller('orders')
export class OrdersController {
  constructor(private readonly orders: OrdersService) {}

  /** Reserves units; the service method holds the item's lock. */
  @Post()
  create(@Body() body: unknown): Promise<Order> {
    const { itemId, quantity } = readCreateOrder(body);
    return this.orders.reserve(itemId, quantity);
  }

  @Get(':id')
  get(@Param('id', orderId, canonical) id: string): Promise<Order> {
    return this.orders.get(id);
  }

  /**
   * Pays an order. A second payment of the same order while the first one
   * runs (a double click, a retried webhook) gets 409 at once, with
   * `Retry-After`; once the first is done, it gets 409 "already paid".
   */
  @Post(':id/pay')
  @HttpCode(200)
  // NOTE: `onLockLost: 'ignore'`: what pay() writes is safe once the lock
  // may have been lost (the status moves only from 'reserved', the charge
  // carries the provider's idempotency key), so its answer is the order's.
  @DistributedLock('order:<id>', { onContention: 'fail', onLockLost: 'ignore' })
  pay(@Param('id', orderId, canonical) id: string): Promise<Order> {
    return this.orders.pay(id);
  }

  /** Cancels a reservation, waiting briefly for a payment or sweep of the same order to finish. */
  @Post(':id/cancel')
  @HttpCode(200)
  @DistributedLock('order:<id>', {
    onContention: 'wait',
    waitTimeout: 5000,
    onLockLost: 'ignore',
  })
  cancel(@Param('id', orderId, canonical) id: string): Promise<Order> {
    return this.orders.cancel(id);
  }
}
