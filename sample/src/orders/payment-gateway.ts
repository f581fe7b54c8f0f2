import { Injectable } from '@nestjs/common';
import { setTimeout as sleep } from 'node:timers/promises';
import { InjectDatabase, type Database } from '../database/database.js';

/**
 * Stands in for an external payment provider: every call charges the
 * customer (a row in `payments`, the provider's ledger) after a short
 * network delay. It has no idea of orders: charging twice charges twice,
 * which is what the order lock prevents.
 */
@Injectable()
export class PaymentGateway {
  static readonly LATENCY_MS = 50;

  constructor(@InjectDatabase() private readonly db: Database) {}

  async charge(orderId: string, amountCents: number): Promise<void> {
    await sleep(PaymentGateway.LATENCY_MS);
    await this.db.query(
      'INSERT INTO payments (order_id, amount_cents) VALUES ($1, $2)',
      [orderId, amountCents],
    );
  }

  /** How many times an order was charged. */
  async charges(orderId: string): Promise<number> {
    const { rows } = await this.db.query<{ count: number }>(
      'SELECT count(*)::int AS count FROM payments WHERE order_id = $1',
      [orderId],
    );
    return rows[0].count;
  }
}
