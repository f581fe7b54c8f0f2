/**
 * How long a queue ticket lives without a new attempt, in ms. A waiting
 * process renews its ticket at least every {@link TICKET_REFRESH_MS}; the
 * place of a process that died (or stalled this long) is skipped once its
 * ticket runs out. @internal
 */
export const TICKET_TTL_MS = 3000;

/**
 * How often a process that waits in a queue renews its ticket, in ms. The
 * renewal is a new attempt, so it also picks up a grant whose notice was lost
 * (a subscriber reconnecting). @internal
 */
export const TICKET_REFRESH_MS = 1000;
