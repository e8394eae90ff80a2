/**
 * `vigil replay DIR [--speed N]`: verifies a capture (manifest, sha256 of every file, every
 * line against the window schema) and publishes its windows again, paced like the original.
 */
import { parseArgs } from "node:util";
import { Registry } from "prom-client";
import { replayCapture } from "../bus/capture.js";
import { NatsBus } from "../bus/nats-bus.js";
import { ErrorCodes, VigilError } from "../errors.js";
import { createLogger } from "../telemetry/logger.js";
import { createBusMetrics } from "../telemetry/metrics.js";
import { NATS_FLAGS, NATS_FLAGS_HELP, natsOptionsFromFlags } from "./nats-flags.js";

const HELP = `usage: vigil replay DIR [--speed N] [options]

Publishes the windows of a capture made by 'vigil capture' to their live subjects, in order.
A capture that fails its sha256 or schema check is refused before anything is published.

  --speed N               1 = real time (default), 10 = ten times faster, 0 = as fast as possible
${NATS_FLAGS_HELP}`;

const PROGRESS_EVERY_MS = 5_000;

export async function replayCommand(argv: string[]): Promise<number> {
  const { values, positionals } = (() => {
    try {
      return parseArgs({
        args: argv,
        options: {
          speed: { type: "string", default: "1" },
          help: { type: "boolean", short: "h" },
          ...NATS_FLAGS,
        },
        allowPositionals: true,
        strict: true,
      });
    } catch (e) {
      throw new VigilError(ErrorCodes.USAGE, (e as Error).message.split("\n")[0] ?? "bad options", {
        hint: "run 'vigil replay --help' for the options",
      });
    }
  })();
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const [dir, ...extra] = positionals;
  if (dir === undefined || extra.length > 0) {
    throw new VigilError(ErrorCodes.USAGE, "vigil replay needs exactly one capture directory", {
      hint: "vigil replay datasets/coding-agent/2024-05-01/ --speed 10",
    });
  }
  const speed = Number(values.speed);
  if (values.speed.trim() === "" || !Number.isFinite(speed) || speed < 0) {
    throw new VigilError(ErrorCodes.USAGE, `--speed "${values.speed}" is not a number >= 0`, {
      hint: "1 = real time, 10 = ten times faster, 0 = as fast as possible",
    });
  }
  const nats = natsOptionsFromFlags(values, {
    envUrl: process.env.VIGIL_NATS_URL,
    dataDir: process.env.VIGIL_DATA_DIR ?? "/var/lib/vigil",
    role: "admin",
  });
  const logger = createLogger();
  const bus = await NatsBus.open(
    { ...nats, name: "vigil-replay" },
    createBusMetrics(new Registry()),
    logger,
  );

  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let latest = 0;
  const ticker = setInterval(() => {
    process.stderr.write(`vigil replay: ${latest} windows published\n`);
  }, PROGRESS_EVERY_MS);
  try {
    const r = await replayCapture(
      bus,
      dir,
      {
        speed,
        signal: abort.signal,
        onProgress: (n) => {
          latest = n;
        },
      },
      logger,
    );
    process.stdout.write(
      `${r.aborted ? "stopped after publishing" : "replayed"} ${r.published} windows from ${dir}\n`,
    );
    return r.aborted ? 130 : 0;
  } finally {
    clearInterval(ticker);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await bus.close();
  }
}
