// Ids of messages this process enqueued and has not yet seen leave the queue (acked or
// dead-lettered), for brokers whose dedup forgets an id when its window ends (JetStream's
// duplicate window, the amqp adapter's in-memory window): the contract makes an id a duplicate
// for as long as its message is held, window or not. Bounded; past the bound the oldest are
// forgotten. Ids settled by another process stay until then.
const MAX_HELD_IDS = 100_000;

export class HeldIds {
  private readonly ids = new Set<string>();

  has(id: string): boolean {
    return this.ids.has(id);
  }

  add(id: string): void {
    this.ids.add(id);
    if (this.ids.size > MAX_HELD_IDS) this.ids.delete(this.ids.values().next().value!);
  }

  delete(id: string): void {
    this.ids.delete(id);
  }
}
