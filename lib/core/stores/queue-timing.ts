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

/**
 * The first lease of a grant made to a queue ticket, at most, in ms: the
 * ticket's process renews it to its full ttl if it is alive (renewal, or a
 * one-time top-up for a lock that does not renew). A ticket whose process
 * died less than {@link TICKET_TTL_MS} ago can still be granted the key; it
 * then blocks the key this long, not the dead waiter's whole ttl. @internal
 */
export const GRANT_LEASE_MS = TICKET_TTL_MS;
