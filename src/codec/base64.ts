// base64url without padding (RFC 4648 section 5): the text form of bytes in JSON frames and in
// header fields such as `sum`, `enc.iv` and `sig.value`.
export function toBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}

export function fromBase64Url(text: string): Uint8Array {
  return Buffer.from(text, 'base64url');
}

const B64URL = /^[A-Za-z0-9_-]*$/;
export function isBase64Url(text: string): boolean {
  return B64URL.test(text) && text.length % 4 !== 1;
}
