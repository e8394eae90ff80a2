/**
 * `vigil tail [--agent-type T] [--kind windows|events|alerts|dlq]`: prints live messages from the
 * bus as JSON lines (a plain subscription: it neither consumes nor acknowledges anything).
 */
import { parseArgs } from "node:util";
import { Registry } from "prom-client";
import { NatsBus } from "../bus/nats-bus.js";
import { DLQ_SUBJECT, SUBJECT_ROOT, subjectToken } from "../contracts/index.js";
import { ErrorCodes, VigilError } from "../errors.js";
import { createLogger } from "../telemetry/logger.js";
import { createBusMetrics } from "../telemetry/metrics.js";
import { NATS_FLAGS, NATS_FLAGS_HELP, natsOptionsFromFlags } from "./nats-flags.js";

const HELP = `usage: vigil tail [--kind windows|events|alerts|dlq] [--agent-type T] [NATS flags]

${NATS_FLAGS_HELP}`;

export async function tailCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...NATS_FLAGS,
      kind: { type: "string", default: "windows" },
      "agent-type": { type: "string" },
      "data-dir": { type: "string", default: process.env.VIGIL_DATA_DIR ?? "/var/lib/vigil" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const type = values["agent-type"] ? subjectToken(values["agent-type"]) : "*";
  const subjects: Record<string, string> = {
    windows: `${SUBJECT_ROOT}.windows.${type}.*`,
    events: `${SUBJECT_ROOT}.events.*.${type}.*`,
    alerts: `${SUBJECT_ROOT}.alerts.${type}`,
    dlq: DLQ_SUBJECT,
  };
  const subject = subjects[values.kind as string];
  if (!subject) {
    throw new VigilError(ErrorCodes.USAGE, `unknown --kind ${values.kind}`, {
      hint: "use windows, events, alerts or dlq",
    });
  }
  const logger = createLogger({ level: "warn" });
  const bus = await NatsBus.open(
    natsOptionsFromFlags(values, {
      envUrl: process.env.VIGIL_NATS_URL,
      dataDir: values["data-dir"],
      role: "reader",
    }),
    createBusMetrics(new Registry()),
    logger,
  );
  const sub = bus.connection.subscribe(subject);
  const stop = () => sub.unsubscribe();
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  for await (const m of sub) process.stdout.write(`${m.string()}\n`);
  await bus.close();
  return 0;
}
