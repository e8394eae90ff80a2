/**
 * `vigil capture --agent-type T --out DIR`: records one agent type's live windows into a
 * capture directory (gzip JSONL + manifest.json) until --duration, --max-windows or Ctrl-C.
 */
import { parseArgs } from "node:util";
import { Registry } from "prom-client";
import { type CaptureProgress, captureWindows } from "../bus/capture.js";
import { NatsBus } from "../bus/nats-bus.js";
import { ErrorCodes, VigilError } from "../errors.js";
import { createLogger } from "../telemetry/logger.js";
import { createBusMetrics } from "../telemetry/metrics.js";
import { NATS_FLAGS, NATS_FLAGS_HELP, natsOptionsFromFlags } from "./nats-flags.js";

const HELP = `usage: vigil capture --agent-type TYPE --out DIR [options]

Records new windows of TYPE from every host into DIR (which must be new or empty):
windows-NNNN.jsonl.gz files and a manifest.json with hosts, time range, counts and sha256s.
Ctrl-C ends the capture early; what was captured is kept.

  --agent-type TYPE       the agent type to capture
  --out DIR               where to write, e.g. datasets/TYPE/2024-05-01/
  --duration D            how long: 30s, 10m (default), 1h
  --max-windows N         stop after N windows
${NATS_FLAGS_HELP}`;

const PROGRESS_EVERY_MS = 5_000;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text.trim());
  const unit = m?.[2] === undefined ? undefined : UNIT_MS[m[2]];
  if (!m || unit === undefined || !(Number(m[1]) > 0)) {
    throw new VigilError(ErrorCodes.USAGE, `--duration "${text}" is not a duration`, {
      hint: "a number with a unit: 30s, 10m, 1h",
    });
  }
  return Number(m[1]) * unit;
}

export async function captureCommand(argv: string[]): Promise<number> {
  const { values } = (() => {
    try {
      return parseArgs({
        args: argv,
        options: {
          "agent-type": { type: "string" },
          out: { type: "string" },
          duration: { type: "string", default: "10m" },
          "max-windows": { type: "string" },
          help: { type: "boolean", short: "h" },
          ...NATS_FLAGS,
        },
        strict: true,
      });
    } catch (e) {
      throw new VigilError(ErrorCodes.USAGE, (e as Error).message.split("\n")[0] ?? "bad options", {
        hint: "run 'vigil capture --help' for the options",
      });
    }
  })();
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const agentType = values["agent-type"];
  const out = values.out;
  if (!agentType || !out) {
    throw new VigilError(ErrorCodes.USAGE, "vigil capture needs --agent-type and --out", {
      hint: "vigil capture --agent-type coding-agent --out datasets/coding-agent/$(date +%F)/",
    });
  }
  const durationMs = parseDuration(values.duration);
  let maxWindows: number | undefined;
  if (values["max-windows"] !== undefined) {
    maxWindows = Number(values["max-windows"]);
    if (!Number.isInteger(maxWindows) || maxWindows < 1) {
      throw new VigilError(
        ErrorCodes.USAGE,
        `--max-windows "${values["max-windows"]}" is not a positive whole number`,
        { hint: "e.g. --max-windows 10000" },
      );
    }
  }
  const nats = natsOptionsFromFlags(values, {
    envUrl: process.env.VIGIL_NATS_URL,
    dataDir: process.env.VIGIL_DATA_DIR ?? "/var/lib/vigil",
    role: "admin",
  });
  const logger = createLogger();
  const bus = await NatsBus.open(
    { ...nats, name: "vigil-capture" },
    createBusMetrics(new Registry()),
    logger,
  );

  const abort = new AbortController();
  const onSignal = () => {
    process.stderr.write("vigil capture: stopping, writing the manifest\n");
    abort.abort();
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  let latest: CaptureProgress = { windows: 0, invalid: 0 };
  const ticker = setInterval(() => {
    process.stderr.write(
      `vigil capture: ${latest.windows} windows captured (${latest.invalid} invalid)\n`,
    );
  }, PROGRESS_EVERY_MS);
  try {
    const manifest = await captureWindows(
      bus,
      {
        agentType,
        out,
        durationMs,
        ...(maxWindows === undefined ? {} : { maxWindows }),
        signal: abort.signal,
        onReady: () =>
          process.stderr.write(`vigil capture: capturing ${agentType} windows into ${out}\n`),
        onProgress: (p) => {
          latest = p;
        },
      },
      logger,
    );
    const range = manifest.timeRange
      ? `${manifest.timeRange.start} .. ${manifest.timeRange.end}`
      : "no windows";
    process.stdout.write(
      `captured ${manifest.counts.windows} windows (${manifest.counts.invalid} invalid) of ` +
        `${manifest.agentType} from ${manifest.hosts.length} host(s), ${range}, ` +
        `${manifest.files.length} file(s) in ${out}\n`,
    );
    return 0;
  } finally {
    clearInterval(ticker);
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
    await bus.close();
  }
}
