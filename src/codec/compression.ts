// Body compression with node:zlib. gzip (RFC 1952) and brotli (RFC 7932); zstd is left out
// because Node 20's zlib has no zstd and a native addon for it is not worth its weight here.
import {
  brotliCompressSync,
  brotliDecompressSync,
  constants,
  gunzipSync,
  gzipSync,
} from 'node:zlib';
import { InvalidMessageError, PayloadTooLargeError, type Compression } from '../protocol/index.js';

export interface CompressionOptions {
  algorithm: Compression;
  /** Bodies smaller than this many bytes are sent as they are. */
  thresholdBytes: number;
}

export const DEFAULT_COMPRESSION: CompressionOptions = {
  algorithm: 'gzip',
  thresholdBytes: 16 * 1024,
};

export function compress(bytes: Uint8Array, algorithm: Compression): Uint8Array {
  switch (algorithm) {
    case 'gzip':
      return gzipSync(bytes, { level: 6 });
    case 'br':
      return brotliCompressSync(bytes, {
        params: {
          [constants.BROTLI_PARAM_QUALITY]: 5,
          [constants.BROTLI_PARAM_SIZE_HINT]: bytes.byteLength,
        },
      });
  }
}

/** Decompresses, refusing output larger than `maxBytes` (a decompression bomb is bad input). */
export function decompress(
  bytes: Uint8Array,
  algorithm: Compression,
  maxBytes: number,
): Uint8Array {
  try {
    switch (algorithm) {
      case 'gzip':
        return gunzipSync(bytes, { maxOutputLength: maxBytes });
      case 'br':
        return brotliDecompressSync(bytes, { maxOutputLength: maxBytes });
    }
  } catch (cause) {
    if ((cause as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new PayloadTooLargeError(`decompressed body exceeds ${maxBytes} bytes`, { cause });
    }
    throw new InvalidMessageError(`body is not valid ${algorithm} data`, { cause });
  }
}
