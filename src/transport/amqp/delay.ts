// Delays without a broker plugin: a ladder of queues whose message TTLs are powers of two
// (level l holds a message 2^l ms), each dead-lettering into the exchange of the level below.
// A message's routing key spells its delay in binary, one word per level; each level's topic
// exchange sends it into that level's queue when its bit is 1 and straight down when it is 0,
// and the last exchange hands it to the destination queue named at the end of the key. Every
// queue of the ladder holds messages of one TTL only, so none waits behind a longer one, and
// the ladder is shared by all the queues of a namespace: 31 queues and exchanges, declared
// level by level as longer delays are first needed.
import type { Channel } from 'amqplib';
import type { AdminChannel } from './admin.js';
import {
  delayBindingKey,
  delayOutBindingKey,
  delayRoutingKey,
  MAX_DELAY_MS,
  type Names,
} from './names.js';

export class DelayLadder {
  /** Highest level declared on the admin channel of that generation. */
  private declared = { generation: -1, top: -1 };
  private outOn = -1;
  /** Every level ever declared here, for deleteOnClose. */
  highestDeclared = -1;

  constructor(
    private readonly names: Names,
    private readonly admin: AdminChannel,
  ) {}

  /** Declares the exchange the ladder hands messages back through. */
  async declareOut(ch: Channel): Promise<void> {
    if (this.outOn === this.admin.generation) return;
    await ch.assertExchange(this.names.delayOut, 'topic', { durable: true });
    this.outOn = this.admin.generation;
  }

  /** Binds a destination queue to the ladder's exit. */
  async bindDestination(ch: Channel, queue: string): Promise<void> {
    await this.declareOut(ch);
    await ch.bindQueue(queue, this.names.delayOut, delayOutBindingKey(queue));
  }

  /** Where to publish a message that should reach `destination` in `delayMs` (>= 1) ms. */
  async route(delayMs: number, destination: string): Promise<{ exchange: string; key: string }> {
    const units = Math.min(MAX_DELAY_MS, Math.max(1, Math.ceil(delayMs)));
    const top = Math.floor(Math.log2(units));
    await this.ensureLevels(top);
    // Levels above the highest set bit would only pass it down: enter the ladder below them.
    return { exchange: this.names.delayLevel(top), key: delayRoutingKey(units, destination) };
  }

  private async ensureLevels(top: number): Promise<void> {
    if (this.declared.generation === this.admin.generation && this.declared.top >= top) return;
    await this.admin.run(async (ch) => {
      const generation = this.admin.generation;
      if (this.declared.generation !== generation) this.declared = { generation, top: -1 };
      await this.declareOut(ch);
      // Bottom up: a level's exchange binds to the one below, which must exist first.
      for (let level = this.declared.top + 1; level <= top; level++) {
        const name = this.names.delayLevel(level);
        const below = level === 0 ? this.names.delayOut : this.names.delayLevel(level - 1);
        await ch.assertExchange(name, 'topic', { durable: true });
        await ch.assertQueue(name, {
          durable: true,
          arguments: { 'x-message-ttl': 2 ** level, 'x-dead-letter-exchange': below },
        });
        await ch.bindQueue(name, name, delayBindingKey(level, '1'));
        await ch.bindExchange(below, name, delayBindingKey(level, '0'));
        this.declared.top = level;
        this.highestDeclared = Math.max(this.highestDeclared, level);
      }
    });
  }

  /** Deletes the ladder (tests and demos with a namespace of their own). */
  async delete(ch: Channel): Promise<void> {
    for (let level = this.highestDeclared; level >= 0; level--) {
      const name = this.names.delayLevel(level);
      await ch.deleteQueue(name);
      await ch.deleteExchange(name);
    }
    if (this.outOn !== -1) await ch.deleteExchange(this.names.delayOut);
  }
}
