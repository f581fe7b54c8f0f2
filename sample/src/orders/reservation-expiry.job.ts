import { Injectable, Logger } from '@nestjs/common';
import { Cron } from '@nestjs/schedule';
import { DistributedLock } from 'nestjs-distributed-lock';
import { setTimeout as sleep } from 'node:timers/promises';
import { sweepSchedule } from '../app.config.js';
import { OrdersRepository } from './orders.repository.js';
import { OrdersService } from './orders.service.js';

const schedule = sweepSchedule();

/**
 * Every few seconds (`EXPIRY_SWEEP_SECONDS`, default 5), puts the units of
 * unpaid reservations whose payment window has closed back on sale. Every
 * instance's timer fires, on the same wall-clock seconds; one instance per
 * tick takes the job's lock and does the sweep, the others skip it.
 */
@Injectable()
export class ReservationExpiryJob {
  private readonly logger = new Logger(ReservationExpiryJob.name);

  constructor(
    private readonly orders: OrdersService,
    private readonly repository: OrdersRepository,
  ) {}

  @Cron(schedule.cron, { name: 'release-expired-reservations' })
  @DistributedLock('job:release-expired-reservations', {
    onContention: 'skip',
  })
  async releaseExpired(): Promise<number> {
    const started = performance.now();
    try {
      let released = 0;
      for (const id of await this.repository.expiredReservations(100)) {
        // NOTE: one order that fails (its item's lock busy past the wait)
        // does not stop the sweep; the next tick tries it again.
        try {
          if (await this.orders.expire(id)) released++;
        } catch (error) {
          this.logger.warn(
            `Order ${id} was not expired this time: ${(error as Error).message}`,
          );
        }
      }
      if (released > 0)
        this.logger.log(`Released ${released} expired reservation(s).`);
      try {
        const refunded = await this.orders.retryRefunds(100);
        if (refunded > 0)
          this.logger.log(`Retried ${refunded} failed refund(s).`);
      } catch (error) {
        this.logger.warn(
          `Failed refunds were not retried this time: ${(error as Error).message}`,
        );
      }
      return released;
    } finally {
      // NOTE: the instances' timers fire a few ms apart. Holding the lock for
      // half the period (like ShedLock's lockAtLeastFor) makes the late ones
      // skip this tick instead of sweeping again right after.
      const left = schedule.minHoldMs - (performance.now() - started);
      if (left > 0) await sleep(left);
    }
  }
}
