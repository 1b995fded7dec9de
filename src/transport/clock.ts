// The time source queues and record stores read, in a file of its own so that both can name it
// without importing each other.

/** A source of time in ms since the epoch; injected so tests can move time instead of sleeping. */
export interface Clock {
  now(): number;
}
