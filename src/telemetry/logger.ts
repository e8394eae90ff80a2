/**
 * Structured logger: one JSON object per line on stderr (or a given stream). It never throws
 * while logging. `limited()` keeps a noisy event-path error to one line per key and interval,
 * and says how many were suppressed, so a flood cannot drown the log.
 */
import type { Writable } from "node:stream";

export type LogLevel = "debug" | "info" | "warn" | "error";
const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** Logs at most once per `intervalMs` for `key`; the next line carries the suppressed count. */
  limited(level: LogLevel, key: string, msg: string, fields?: LogFields, intervalMs?: number): void;
  child(fields: LogFields): Logger;
}

export interface LoggerOptions {
  level?: LogLevel;
  stream?: Writable;
  now?: () => number;
}

export function createLogger(options: LoggerOptions = {}, base: LogFields = {}): Logger {
  const min = ORDER[options.level ?? "info"];
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? Date.now;
  const limits = new Map<string, { last: number; suppressed: number }>();

  const write = (level: LogLevel, msg: string, fields?: LogFields): void => {
    if (ORDER[level] < min) return;
    try {
      const line = JSON.stringify({
        time: new Date(now()).toISOString(),
        level,
        msg,
        ...base,
        ...fields,
      });
      stream.write(`${line}\n`);
    } catch {
      // A field that cannot be serialised must not take the caller down.
      stream.write(`${JSON.stringify({ level, msg, note: "unserialisable fields" })}\n`);
    }
  };

  return {
    debug: (m, f) => write("debug", m, f),
    info: (m, f) => write("info", m, f),
    warn: (m, f) => write("warn", m, f),
    error: (m, f) => write("error", m, f),
    limited(level, key, msg, fields, intervalMs = 10_000) {
      const t = now();
      const state = limits.get(key);
      if (state && t - state.last < intervalMs) {
        state.suppressed++;
        return;
      }
      const suppressed = state?.suppressed ?? 0;
      limits.set(key, { last: t, suppressed: 0 });
      write(level, msg, suppressed > 0 ? { ...fields, suppressed } : fields);
    },
    child: (fields) => createLogger(options, { ...base, ...fields }),
  };
}

/** A logger that drops everything: for tests and quiet tools. */
export function createSilentLogger(): Logger {
  const noop = (): void => {};
  const silent: Logger = {
    debug: noop,
    info: noop,
    warn: noop,
    error: noop,
    limited: noop,
    child: () => silent,
  };
  return silent;
}
