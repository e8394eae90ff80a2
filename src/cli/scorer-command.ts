/** `vigil scorer`: the scorer alone, for hosts that score windows other hosts' sensors send. */

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { Registry } from "prom-client";
import { type ConfigInput, loadConfig } from "../config/index.js";
import { ErrorCodes, VigilError } from "../errors.js";
import { startBus } from "../main.js";
import { startScorer } from "../scorer/service.js";
import { createLogger } from "../telemetry/logger.js";
import { embeddedUrlFile, NATS_FLAGS, NATS_FLAGS_HELP, natsConfigFromFlags } from "./nats-flags.js";

const HELP = `usage: vigil scorer [options]

Consumes windows from NATS JetStream (scorers sharing --durable split the load), scores them
with each agent type's model, learns a model for agent types that have none, and sends
explained alerts to Alertmanager (through a JetStream outbox) and to vigil.v1.alerts.<type>.

  --config FILE           JSON config file (default: $VIGIL_CONFIG, else /etc/vigil/config.json if present)
${NATS_FLAGS_HELP}
  --models DIR            model directories <DIR>/<agent-type>/<version>/ (default: models/ of this checkout)
  --alertmanager URL,...  Alertmanager(s) to send alerts to (default: none; alerts stay on NATS)
  --listen HOST:PORT      /metrics, /healthz, /readyz, /status (default 127.0.0.1:9464)
  --durable NAME          JetStream consumer shared by cooperating scorers (default vigil-scorer)
  --host NAME             this scorer's host name (default: this machine's)
  --log-level LEVEL       debug | info | warn | error (default info)

Every option can also be set in the config file or as VIGIL_* (see docs/configuration.md).`;

export async function scorerCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: "string" },
      ...NATS_FLAGS,
      models: { type: "string" },
      alertmanager: { type: "string" },
      listen: { type: "string" },
      durable: { type: "string" },
      host: { type: "string" },
      "log-level": { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const flags = {
    host: values.host,
    nats: natsConfigFromFlags(values),
    log: values["log-level"] ? { level: values["log-level"] } : undefined,
    scorer: {
      modelsDir: values.models,
      durable: values.durable,
      alertmanager: values.alertmanager === undefined ? undefined : { urls: values.alertmanager },
      http: values.listen === undefined ? undefined : { listen: values.listen },
    },
  } as ConfigInput;
  let config = loadConfig({
    ...(values.config ? { file: values.config } : {}),
    env: process.env,
    flags,
  });
  if (!config.nats.url) {
    // No URL: the embedded server of a 'vigil run' on this host, never a new one of our own.
    let url: string;
    try {
      url = readFileSync(embeddedUrlFile(config.dataDir), "utf8").trim();
    } catch {
      throw new VigilError(
        ErrorCodes.NATS_CONNECT,
        "no NATS server given and no local 'vigil run' found",
        {
          hint: "pass --nats nats://host:4222 (or set nats.url / VIGIL_NATS_URL)",
        },
      );
    }
    config = { ...config, nats: { ...config.nats, url } };
  }
  const logger = createLogger({ level: config.log.level });
  const registry = new Registry();
  const bus = await startBus(config, logger, registry, ["scorer"]);
  let scorer: Awaited<ReturnType<typeof startScorer>>;
  try {
    scorer = await startScorer(config, logger, registry, bus.as("scorer"));
  } catch (e) {
    await bus.stop();
    throw e;
  }
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = () => {
      if (stopping) return;
      stopping = true;
      logger.info("stopping scorer");
      scorer
        .stop()
        .then(() => bus.stop())
        .then(
          () => resolve(0),
          (e: unknown) => {
            logger.error("stopping failed", { error: (e as Error).message });
            resolve(1);
          },
        );
    };
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
  });
}
