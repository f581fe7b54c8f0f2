export type OrderStatus = 'reserved' | 'paid' | 'cancelled' | 'expired';

/** An order: a reservation of units of one item until it is paid or expires. */
export interface Order {
  readonly id: string;
  readonly itemId: string;
  readonly quantity: number;
  readonly status: OrderStatus;
  /** Whether it was reserved under the item's lock (false: the unlocked demonstration endpoint). */
  readonly locked: boolean;
  /** Fencing token of the lock it was reserved under. */
  readonly fence: number | null;
  readonly createdAt: Date;
  /** End of the payment window: unpaid by then, the units go back on sale. */
  readonly expiresAt: Date;
  readonly paidAt: Date | null;
}
