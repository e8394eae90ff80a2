/**
 * `vigil sensor` / `vigil run`: the sensor until SIGINT or SIGTERM. `run` also runs the scorer
 * in the same process (models, alerts, /metrics): the one-host setup.
 */
import { parseArgs } from "node:util";
import { Registry } from "prom-client";
import { EventPublisher, WindowPublisher } from "../bus/window-publisher.js";
import { type ConfigInput, loadConfig } from "../config/index.js";
import { ErrorCodes, VigilError } from "../errors.js";
import { type RunningBus, type RunningSensor, startBus, startSensor } from "../main.js";
import { type RunningScorer, startScorer } from "../scorer/service.js";
import { JsonlSink } from "../sensor/jsonl-sink.js";
import type { EventSink, WindowSink } from "../sensor/sensor.js";
import { createLogger } from "../telemetry/logger.js";
import { createSensorMetrics } from "../telemetry/metrics.js";
import { NATS_FLAGS, NATS_FLAGS_HELP, natsConfigFromFlags } from "./nats-flags.js";

const HELP = `usage: vigil sensor [options]
       vigil run [options]      (the sensor, embedded NATS and the scorer on this host)

  --config FILE           JSON config file (default: $VIGIL_CONFIG, else /etc/vigil/config.json if present)
  --output SPEC           where windows go: nats (default), jsonl:- (stdout) or jsonl:/path/file.jsonl
${NATS_FLAGS_HELP}
                          (here, without --nats an embedded nats-server is started on loopback)
  --window-seconds N      window length (default 5)
  --ngram N               syscall n-gram length 1..4 (default 3)
  --control-socket PATH   where 'vigil exec' finds the sensor (default /run/vigil/sensor.sock)
  --host NAME             host name written into records (default: this machine's)
  --log-level LEVEL       debug | info | warn | error (default info)
run only:
  --models DIR            model directories <DIR>/<agent-type>/<version>/ (default: models/ of this checkout)
  --alertmanager URL,...  Alertmanager(s) to send alerts to (default: none; alerts stay on NATS)
  --listen HOST:PORT      /metrics, /healthz, /readyz, /status (default 127.0.0.1:9464)

Every option can also be set in the config file or as VIGIL_* (see docs/configuration.md).`;

export async function sensorCommand(argv: string[], withScorer = false): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: "string" },
      output: { type: "string" },
      ...NATS_FLAGS,
      "window-seconds": { type: "string" },
      ngram: { type: "string" },
      "control-socket": { type: "string" },
      host: { type: "string" },
      "log-level": { type: "string" },
      models: { type: "string" },
      alertmanager: { type: "string" },
      listen: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const num = (v: string | undefined, flag: string): number | undefined => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isFinite(n)) {
      throw new VigilError(ErrorCodes.USAGE, `${flag} needs a number, got "${v}"`);
    }
    return n;
  };
  const flags = {
    host: values.host,
    output: values.output,
    nats: natsConfigFromFlags(values),
    log: values["log-level"] ? { level: values["log-level"] } : undefined,
    sensor: {
      windowSeconds: num(values["window-seconds"], "--window-seconds"),
      ngram: num(values.ngram, "--ngram"),
      controlSocket: values["control-socket"],
    },
    scorer: {
      modelsDir: values.models,
      alertmanager: values.alertmanager === undefined ? undefined : { urls: values.alertmanager },
      http: values.listen === undefined ? undefined : { listen: values.listen },
    },
  } as ConfigInput;
  if (!withScorer && (values.models || values.alertmanager || values.listen)) {
    throw new VigilError(
      ErrorCodes.USAGE,
      "--models, --alertmanager and --listen are options of 'vigil run'",
      {
        hint: "use 'vigil run', or run 'vigil scorer' next to this sensor",
      },
    );
  }
  const config = loadConfig({
    ...(values.config ? { file: values.config } : {}),
    env: process.env,
    flags,
  });
  const logger = createLogger({ level: config.log.level });
  const registry = new Registry();
  const sensorMetrics = createSensorMetrics(registry);
  // Windows go to the bus (embedded NATS unless a URL is configured) or to a JSONL file.
  let bus: RunningBus | undefined;
  let sink: WindowSink;
  let events: EventSink | undefined;
  if (config.output === "nats") {
    bus = await startBus(config, logger, registry, withScorer ? ["sensor", "scorer"] : ["sensor"]);
    sink = new WindowPublisher(bus.as("sensor"), config.nats.buffer, {
      logger,
      sensorMetrics,
      busMetrics: bus.metrics,
    });
    // Events are fewer and smaller than windows: a tenth of the window buffer is plenty.
    events = new EventPublisher(
      bus.as("sensor"),
      {
        maxWindows: Math.max(100, Math.floor(config.nats.buffer.maxWindows / 10)),
        maxBytes: Math.max(1024 ** 2, Math.floor(config.nats.buffer.maxBytes / 10)),
      },
      { logger, sensorMetrics, busMetrics: bus.metrics },
    );
  } else {
    sink = await JsonlSink.open(config.output);
  }
  let scorer: RunningScorer | undefined;
  if (withScorer) {
    if (!bus) {
      throw new VigilError(
        ErrorCodes.USAGE,
        "vigil run needs output nats: the scorer reads windows from the bus",
        {
          hint: "drop --output (or set it to nats); use 'vigil sensor --output jsonl:...' for files",
        },
      );
    }
    try {
      scorer = await startScorer(config, logger, registry, bus.as("scorer"));
    } catch (e) {
      await bus.stop();
      throw e;
    }
  }
  let running: RunningSensor;
  try {
    running = await startSensor(config, logger, sink, sensorMetrics, events);
  } catch (e) {
    await scorer?.stop();
    await bus?.stop();
    throw e;
  }
  const stopAll = async () => {
    await running.stop(); // flushes the sink: buffered windows reach NATS first
    await scorer?.stop();
    await bus?.stop();
  };
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (code: number) => {
      if (stopping) return;
      stopping = true;
      logger.info(withScorer ? "stopping" : "stopping sensor");
      stopAll().then(
        () => resolve(code),
        (e: unknown) => {
          logger.error("stopping failed", { error: (e as Error).message });
          resolve(1);
        },
      );
    };
    process.once("SIGINT", () => stop(0));
    process.once("SIGTERM", () => stop(0));
    running.sensor.onFatal((e) => {
      process.stderr.write(`vigil: ${e.toUserString()}\n`);
      stop(1);
    });
  });
}
