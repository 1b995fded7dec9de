// Byte bodies marked as bulk binary (blob parts, weights), remembered beside the bytes (not in
// the message): a codec writes a message whose body is marked as a MessagePack frame, so the
// bytes go as they are rather than as base64 in JSON, and skips its compression pass, since
// such bytes are random or already compressed and a gzip attempt per MiB costs more than
// moving the MiB (docs/protocol.md, "Blobs over the bus").
const marked = new WeakSet<Uint8Array>();

/** Marks `bytes` as bulk binary; returns them. */
export function markBinaryBody<T extends Uint8Array>(bytes: T): T {
  marked.add(bytes);
  return bytes;
}

/** True when `body` is bytes marked with markBinaryBody. */
export function isBinaryBody(body: unknown): boolean {
  return body instanceof Uint8Array && marked.has(body);
}
