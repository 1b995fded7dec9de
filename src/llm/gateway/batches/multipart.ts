// multipart/form-data uploads (RFC 7578) read with @fastify/busboy: the text fields, and the
// one file part streamed to a consumer as it arrives (never held whole in memory). A body that
// breaks the limits is refused with a typed error, after the rest of it is read and dropped so
// the client still gets the answer.
import { Busboy } from '@fastify/busboy';
import type { Readable } from 'node:stream';
import {
  InvalidMessageError,
  PayloadTooLargeError,
  UnsupportedMediaTypeError,
} from '../../../protocol/index.js';
import type { Ctx } from '../http.js';

export interface UploadLimits {
  /** Largest file, in bytes. */
  maxFileBytes: number;
  /** Most text fields. */
  maxFields: number;
}

export interface Upload<T> {
  fields: Record<string, string>;
  /** What `consume` returned for the file part. */
  file: T;
  filename: string;
}

const MULTIPART = /^multipart\/form-data\s*;/i;

/**
 * Reads a multipart body with exactly one file part named `file`; `consume` gets its bytes as
 * they arrive and throws to refuse them (the rest of the body is then drained).
 */
export async function readUpload<T>(
  ctx: Ctx,
  limits: UploadLimits,
  consume: (bytes: AsyncIterable<Uint8Array>, filename: string) => Promise<T>,
): Promise<Upload<T>> {
  const type = ctx.req.headers['content-type'];
  if (type === undefined || !MULTIPART.test(type)) {
    throw new UnsupportedMediaTypeError(
      `content-type must be multipart/form-data, got ${type === undefined ? 'none' : `'${type.slice(0, 100)}'`}`,
      { details: { param: 'content-type' } },
    );
  }
  const declared = Number(ctx.req.headers['content-length'] ?? NaN);
  // The form's other parts and boundaries are small; a body this much larger holds a file over.
  if (declared > limits.maxFileBytes + 64 * 1024) {
    throw new PayloadTooLargeError(
      `upload of ${declared} bytes exceeds the ${limits.maxFileBytes}-byte file limit`,
    );
  }
  let bb;
  try {
    bb = Busboy({
      headers: { ...ctx.req.headers, 'content-type': type },
      limits: {
        files: 1,
        fields: limits.maxFields,
        fieldSize: 4096,
        parts: limits.maxFields + 1,
        fileSize: limits.maxFileBytes + 1,
      },
    });
  } catch {
    throw new InvalidMessageError('malformed multipart/form-data content-type (no boundary?)', {
      details: { param: 'content-type' },
    });
  }
  const fields: Record<string, string> = {};
  let failure: Error | undefined;
  const fail = (err: Error) => (failure ??= err);
  let file: Promise<{ value: T; filename: string }> | undefined;
  bb.on('field', (name: string, value: string, nameTruncated: boolean, valueTruncated: boolean) => {
    if (nameTruncated || valueTruncated) {
      fail(new InvalidMessageError(`form field '${name.slice(0, 64)}' is too long`));
    } else fields[name] = value;
  });
  bb.on('file', (name: string, stream: Readable & { truncated?: boolean }, filename: string) => {
    if (name !== 'file' || file !== undefined) {
      fail(new InvalidMessageError(`unexpected file part '${name.slice(0, 64)}'; send one 'file'`));
      stream.resume();
      return;
    }
    const bytes = async function* () {
      let size = 0;
      for await (const chunk of stream.iterator({ destroyOnReturn: false })) {
        size += (chunk as Buffer).byteLength;
        if (size > limits.maxFileBytes) {
          throw new PayloadTooLargeError(`file exceeds the ${limits.maxFileBytes}-byte limit`, {
            details: { param: 'file' },
          });
        }
        yield chunk as Buffer;
      }
    };
    const name_ = filename === '' || filename === undefined ? 'upload.jsonl' : filename;
    file = consume(bytes(), name_).then(
      (value) => ({ value, filename: name_ }),
      (err: unknown) => {
        // Read and drop the rest so the client, still sending, gets the error as an answer.
        stream.resume();
        throw err;
      },
    );
    file.catch(() => undefined);
  });
  bb.on('partsLimit', () => fail(new InvalidMessageError('too many form parts')));
  bb.on('fieldsLimit', () => fail(new InvalidMessageError('too many form fields')));
  bb.on('filesLimit', () => fail(new InvalidMessageError('send one file per upload')));
  await new Promise<void>((resolve, reject) => {
    bb.on('finish', resolve);
    bb.on('error', (err: unknown) =>
      reject(
        new InvalidMessageError('malformed multipart/form-data body', {
          cause: err instanceof Error ? err : undefined,
        }),
      ),
    );
    ctx.req.on('error', reject);
    ctx.req.pipe(bb);
  });
  if (file === undefined) {
    if (failure !== undefined) throw failure;
    throw new InvalidMessageError("the form has no 'file' part", { details: { param: 'file' } });
  }
  const done = await file;
  if (failure !== undefined) throw failure;
  return { fields, file: done.value, filename: done.filename };
}
