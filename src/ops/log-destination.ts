// Where log lines go by default: a file descriptor (stderr), written synchronously, but once per
// event-loop turn rather than once per line. Under load a gateway finishes many requests in one
// turn, and a write system call per line cost more than the line itself (about 2 of 3 µs to the
// null device, more to a pipe). Lines still leave in the turn they were logged in, in order, and
// whatever is pending is written synchronously when the process exits (process.exit, an uncaught
// exception, the end of the loop); only a kill that runs no code (SIGKILL, a V8 out-of-memory
// abort) can lose the lines of the turn it interrupts.
import type { DestinationStream } from 'pino';
import { pino } from 'pino';

/** Pending text past which a turn's lines are written at once instead of at its end. */
const TURN_BYTES = 8 * 1024;

const byFd = new Map<number, DestinationStream>();

/** The destination writing to `fd` once per turn; one per descriptor, shared by its loggers. */
export function turnDestination(fd: number): DestinationStream {
  let destination = byFd.get(fd);
  if (destination !== undefined) return destination;
  // Synchronous writes that retry a full pipe (EAGAIN), buffered up to TURN_BYTES.
  const boom = pino.destination({ dest: fd, sync: true, minLength: TURN_BYTES });
  let scheduled = false;
  const endOfTurn = () => {
    scheduled = false;
    boom.flush();
  };
  destination = {
    write(line: string): void {
      boom.write(line);
      if (!scheduled) {
        scheduled = true;
        setImmediate(endOfTurn);
      }
    },
  };
  process.on('exit', () => {
    try {
      boom.flushSync();
    } catch {
      // The descriptor is closed or broken: nothing more can be written to it.
    }
  });
  byFd.set(fd, destination);
  return destination;
}
