// Hiding credentials in text that leaves the process (log lines, error messages on stderr).
// Kept apart from log.ts so that reaching it loads no logging library.

/**
 * `text` with the password of every URL in it hidden (`scheme://user:***@host`): broker and
 * client errors often quote the URL they were given, credentials included.
 */
export function maskCredentials(text: string): string {
  return text.replace(/(\/\/[^:@/\s]*):[^@/\s]*@/g, '$1:***@');
}
