import { Body, Controller, Post } from '@nestjs/common';
import { readCreateOrder } from './create-order.js';
import type { Order } from './order.js';
import { OrdersService } from './orders.service.js';

/**
 * `POST /unlocked/orders` does what `POST /orders` does, without the lock:
 * the demonstration fires the same load at both to show the oversell that
 * the lock prevents. Not something to ship.
 */
@Controller('unlocked/orders')
export class UnlockedOrdersController {
  constructor(private readonly orders: OrdersService) {}

  @Post()
  create(@Body() body: unknown): Promise<Order> {
    const { itemId, quantity } = readCreateOrder(body);
    return this.orders.reserveWithoutLock(itemId, quantity);
  }
}
