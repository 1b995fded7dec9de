// Schema pieces the backends' option checks share. Each backend checks its options with
// optionsCheck (protocol/options.ts), so a bad field is a ConfigError naming the backend and it.
import { Type } from '@sinclair/typebox';

/** Model names: a non-empty array of distinct non-empty strings. */
export const ModelNames = Type.Array(Type.String({ minLength: 1 }), {
  minItems: 1,
  uniqueItems: true,
});
