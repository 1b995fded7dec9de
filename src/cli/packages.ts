// Optional packages a command needs only for some choices (a broker's client, the SQLite addon),
// checked before the adapter that imports them is loaded: a missing one is a MissingPackageError
// naming the package to install, not a stack trace from the module loader.
import { MissingPackageError } from '../protocol/index.js';

/** Throws a MissingPackageError for the first of `names` that cannot be resolved. */
export function needPackages(use: string, ...names: string[]): void {
  for (const name of names) {
    try {
      import.meta.resolve(name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw err;
      throw new MissingPackageError(name, use, { cause: err });
    }
  }
}
