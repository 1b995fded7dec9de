// Writes the golden vectors of the transport mappings and LLM subjects (docs/protocol.md,
// "Transport mappings", "The LLM path") to test/fixtures/mappings/v1, built from the rules of
// that page alone (no llmwire code): `npx tsc -p . && node dist/test/protocol/mappings-gen.js`.
// test/protocol/mappings.test.ts checks the implementation against them.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Packr } from 'msgpackr';

const OUT = join(dirname(fileURLToPath(import.meta.url)), '../../../test/fixtures/mappings/v1');
const packr = new Packr({ useRecords: false, variableMapSize: true, moreTypes: false });
const bytes = (b: Uint8Array) => ({ $bytes: Buffer.from(b).toString('base64') });

function write(name: string, value: unknown): void {
  mkdirSync(OUT, { recursive: true });
  writeFileSync(join(OUT, name), JSON.stringify(value, null, 2) + '\n');
}

// "The LLM path": [<ns>.]llm.heartbeat.<id>, [<ns>.]llm.worker.<id>.chat / .embed.
function subjects(ns: string | null, worker: string) {
  const p = ns === null ? '' : `${ns}.`;
  return {
    namespace: ns,
    worker,
    heartbeats: `${p}llm.heartbeat.*`,
    heartbeat: `${p}llm.heartbeat.${worker}`,
    address: `${p}llm.worker.${worker}`,
    chat: `${p}llm.worker.${worker}.chat`,
    embed: `${p}llm.worker.${worker}.embed`,
  };
}
write('llm-subjects.json', {
  description: 'Subjects of the LLM path, with and without a namespace',
  cases: [subjects(null, 'w1'), subjects('prod-eu', 'gpu_07'), subjects('t', 'A-b_9')],
  badNamespaces: ['', 'a.b', 'has space', 'x'.repeat(65), 'a*'],
});

// "Redis": channels and subscription commands.
const escape = (t: string) => t.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
const globOf = (prefix: string, pattern: string) =>
  `${escape(prefix)}s:${pattern
    .split('.')
    .map((t) => (t === '*' || t === '>' ? '*' : escape(t)))
    .join('.')}`;
const prefix = 'llmwire:';
write('redis-channels.json', {
  description: 'Redis pub/sub channel of a subject, and the command a pattern subscribes with',
  prefix,
  channels: ['llm.worker.w1.chat', '_INBOX.abc123', 'odd.to?ken[1]'].map((subject) => ({
    subject,
    channel: `${prefix}s:${subject}`,
  })),
  patterns: [
    { pattern: 'llm.worker.w1.chat', command: 'SUBSCRIBE', name: `${prefix}s:llm.worker.w1.chat` },
    { pattern: 'llm.heartbeat.*', command: 'PSUBSCRIBE', name: globOf(prefix, 'llm.heartbeat.*') },
    { pattern: 'ns.llm.>', command: 'PSUBSCRIBE', name: globOf(prefix, 'ns.llm.>') },
    { pattern: 'a?.*.[x]', command: 'PSUBSCRIBE', name: globOf(prefix, 'a?.*.[x]') },
  ],
});

// "WebSocket hub": records are MessagePack maps; frames ride as bin.
const frame = Buffer.from(
  '{"v":1,"id":"019b76da-a800-7000-8000-000000000001","kind":"event","subject":"x.y","ts":1767225600000,"body":{"type":"ping"}}',
);
const records: { direction: 'peer' | 'hub'; record: Record<string, unknown> }[] = [
  { direction: 'peer', record: { op: 'hello', v: 1, name: 'bare' } },
  { direction: 'peer', record: { op: 'sub', id: 1, sid: 7, pattern: '_INBOX.abc' } },
  { direction: 'peer', record: { op: 'sub', id: 2, sid: 8, pattern: 'jobs.*', queue: 'g1' } },
  { direction: 'peer', record: { op: 'pub', frame } },
  { direction: 'peer', record: { op: 'unsub', sid: 7 } },
  { direction: 'hub', record: { op: 'ok', id: 1 } },
  { direction: 'hub', record: { op: 'msg', sid: 7, frame } },
  {
    direction: 'hub',
    record: {
      op: 'err',
      error: { code: 'forbidden', message: 'may not publish on x.y', retryable: false },
    },
  },
];
write('ws-records.json', {
  description: 'WebSocket hub records: each is one binary WebSocket message, a MessagePack map',
  records: records.map(({ direction, record }) => ({
    direction,
    record: Object.fromEntries(
      Object.entries(record).map(([k, v]) => [k, v instanceof Uint8Array ? bytes(v) : v]),
    ),
    bytes: bytes(packr.pack(record)),
  })),
});

// "NATS": the message of an envelope, and the no-responders error.
const request = {
  v: 1,
  id: '019b76da-a800-7000-8000-0000000000aa',
  kind: 'inference.request',
  subject: 'spec.llm.worker.w1.chat',
  ts: 1767225600000,
  replyTo: '_INBOX.Qm9vdHN0cmFw',
  deadline: 1767225630000,
  body: { model: 'sim', messages: [{ role: 'user', content: 'hi' }] },
};
const event = {
  v: 1,
  id: '019b76da-a800-7000-8000-0000000000ab',
  kind: 'event',
  subject: 'spec.events',
  ts: 1767225600000,
  body: { type: 'x' },
};
const b64 = (s: string) => Buffer.from(s).toString('base64url');
write('nats-messages.json', {
  description:
    'The NATS message of an envelope: subject, Llmwire-Id header, JSON frame payload, and the reply subject (a no-responders subject for a message with replyTo, none otherwise); then the no_responders error a request to nobody gets',
  cases: [
    {
      envelope: request,
      subject: request.subject,
      headers: { 'Llmwire-Id': request.id },
      payload: JSON.stringify(request),
      reply: `^_LLMW\\.[A-Za-z0-9]+\\.nr\\.${b64(request.id)}\\.${request.replyTo.replace('.', '\\.')}$`,
    },
    {
      envelope: event,
      subject: event.subject,
      headers: { 'Llmwire-Id': event.id },
      payload: JSON.stringify(event),
      reply: null,
    },
  ],
  noResponders: {
    request,
    error: {
      kind: 'error',
      subject: request.replyTo,
      corr: request.id,
      body: { code: 'no_responders', retryable: true },
      absent: ['source', 'eos', 'seq'],
    },
  },
});
