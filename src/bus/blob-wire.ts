// The blob service's subjects and messages (docs/protocol.md, "Blobs over the bus"): how a
// process whose transport keeps no blobs (a peer of a WebSocket hub) reaches the store of a
// process that serves it. Reads and writes sit under two prefixes, so a permission grants one or
// both: workers read (`blobs.read.>`), operators read and write, clients and observers neither.
import { Type, type Static } from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { BLOB_NAME_RE, BLOB_VERSION_RE, MAX_BLOB_PARTS, SHA256_SUM_RE } from '../protocol/blob.js';
import { InvalidMessageError } from '../protocol/index.js';

/** Every subject a reader uses. */
export const BLOB_READ_SUBJECTS = 'blobs.read.>';
/** Every subject a writer uses. */
export const BLOB_WRITE_SUBJECTS = 'blobs.write.>';
/** Every subject of the service: what a server subscribes to. */
export const BLOB_SERVICE_SUBJECTS = 'blobs.>';

export const BLOB_SUBJECTS = {
  /** `{}` -> `{kind, maxPartBytes}`: the store behind the service. */
  info: 'blobs.read.info',
  /** `{name, version?}` -> the manifest's bytes (raw body), or `null` when absent. */
  manifest: 'blobs.read.manifest',
  /** `{prefix}` -> `{blobs: [{name, versions}]}`. */
  list: 'blobs.read.list',
  /** `{upload, index}` -> the part's bytes (raw body), or `null` when absent. */
  part: 'blobs.read.part',
  /** `{upload}` -> `{parts: [[index, sum], ...]}`: the parts already stored for an upload. */
  stored: 'blobs.write.stored',
  /** Raw body: the part's bytes; headers `upload`, `index`, `sum` -> `{}`. */
  putPart: 'blobs.write.part',
  /** Raw body: the manifest's bytes; headers `name`, `version` -> `{}`. */
  commit: 'blobs.write.commit',
  /** `{name, version?}` -> `{removed}`. */
  delete: 'blobs.write.delete',
} as const;

/** Queue group of the servers of one bus: each request is answered by one of them. */
export const BLOB_SERVICE_QUEUE = 'llmwire-blobs';

const Name = Type.String({ pattern: BLOB_NAME_RE.source });
const Version = Type.String({ pattern: BLOB_VERSION_RE.source });
/** `<name>@<version>`, as transport/blobs.ts `uploadKey` makes it. */
const Upload = Type.String({ minLength: 3, maxLength: 400 });
const Index = Type.Integer({ minimum: 0, maximum: MAX_BLOB_PARTS - 1 });

export const BlobRequestSchemas = {
  manifest: Type.Object(
    { name: Name, version: Type.Optional(Version) },
    { additionalProperties: false },
  ),
  list: Type.Object({ prefix: Type.String({ maxLength: 256 }) }, { additionalProperties: false }),
  part: Type.Object({ upload: Upload, index: Index }, { additionalProperties: false }),
  stored: Type.Object({ upload: Upload }, { additionalProperties: false }),
  delete: Type.Object(
    { name: Name, version: Type.Optional(Version) },
    { additionalProperties: false },
  ),
};

const checks = {
  manifest: TypeCompiler.Compile(BlobRequestSchemas.manifest),
  list: TypeCompiler.Compile(BlobRequestSchemas.list),
  part: TypeCompiler.Compile(BlobRequestSchemas.part),
  stored: TypeCompiler.Compile(BlobRequestSchemas.stored),
  delete: TypeCompiler.Compile(BlobRequestSchemas.delete),
};

type Requests = { [K in keyof typeof BlobRequestSchemas]: Static<(typeof BlobRequestSchemas)[K]> };

/** Checks a request body; `invalid_message` naming the field when it does not fit. */
export function readRequest<K extends keyof Requests>(kind: K, body: unknown): Requests[K] {
  const check = checks[kind];
  if (!check.Check(body)) {
    const first = check.Errors(body).First();
    throw new InvalidMessageError(
      `blob ${kind} request is not valid at ${first?.path || '/'}: ${first?.message ?? ''}`,
    );
  }
  if ('upload' in body) checkUpload(body.upload);
  return body as Requests[K];
}

/** Checks an upload key: a valid blob name and version joined by `@`. */
export function checkUpload(upload: string): string {
  const at = upload.lastIndexOf('@');
  if (
    at < 1 ||
    !BLOB_NAME_RE.test(upload.slice(0, at)) ||
    !BLOB_VERSION_RE.test(upload.slice(at + 1))
  ) {
    throw new InvalidMessageError(`blob upload '${upload.slice(0, 400)}' is not <name>@<version>`);
  }
  return upload;
}

/** The headers of a part put: where the raw body goes and its sum. */
export function readPartHeaders(headers: Record<string, string> | undefined): {
  upload: string;
  index: number;
  sum: string;
} {
  const upload = headers?.upload;
  const index = Number(headers?.index);
  const sum = headers?.sum;
  if (upload === undefined) throw new InvalidMessageError('blob part put has no upload header');
  if (!Number.isInteger(index) || index < 0 || index >= MAX_BLOB_PARTS) {
    throw new InvalidMessageError('blob part put has no valid index header');
  }
  if (sum === undefined || !SHA256_SUM_RE.test(sum)) {
    throw new InvalidMessageError('blob part put has no valid sum header (sha256:<base64url>)');
  }
  return { upload: checkUpload(upload), index, sum };
}

/** The headers of a commit: the blob's name and version. */
export function readCommitHeaders(headers: Record<string, string> | undefined): {
  name: string;
  version: string;
} {
  const name = headers?.name;
  const version = headers?.version;
  if (name === undefined || !BLOB_NAME_RE.test(name)) {
    throw new InvalidMessageError('blob commit has no valid name header');
  }
  if (version === undefined || !BLOB_VERSION_RE.test(version)) {
    throw new InvalidMessageError('blob commit has no valid version header');
  }
  return { name, version };
}

/** Bytes of a received raw body, or a typed error naming what was expected. */
export function bodyBytes(body: unknown, what: string): Uint8Array {
  if (!(body instanceof Uint8Array)) {
    throw new InvalidMessageError(`${what} must be a raw (bytes) body`);
  }
  return body;
}
