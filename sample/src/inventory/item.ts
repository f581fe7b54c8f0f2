/** A product with limited stock (tickets for one event). */
export interface Item {
  readonly id: string;
  readonly name: string;
  readonly priceCents: number;
  /** Units put on sale. */
  readonly stock: number;
  /** Units neither reserved nor sold. */
  readonly available: number;
  /** Highest fencing token that wrote this row (0: none yet). */
  readonly lastFence: number;
}

/** An item with its sales figures. */
export interface ItemReport extends Item {
  /** Units in open reservations and paid orders. */
  readonly sold: number;
  /**
   * Units sold that the stock does not account for (sold + available -
   * stock): sold beyond the stock, or sold twice. Must stay 0.
   */
  readonly oversold: number;
}
