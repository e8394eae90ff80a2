/** `vigil sensor` / `vigil run`: the sensor until SIGINT or SIGTERM. */
import { parseArgs } from "node:util";
import { type ConfigInput, loadConfig } from "../config/index.js";
import { ErrorCodes, VigilError } from "../errors.js";
import { startSensor } from "../main.js";
import { createLogger } from "../telemetry/logger.js";

const HELP = `usage: vigil sensor [options]

  --config FILE           JSON config file (default: $VIGIL_CONFIG, else /etc/vigil/config.json if present)
  --output SPEC           where windows go: jsonl:- (stdout, default) or jsonl:/path/file.jsonl
  --window-seconds N      window length (default 5)
  --ngram N               syscall n-gram length 1..4 (default 3)
  --control-socket PATH   where 'vigil exec' finds the sensor (default /run/vigil/sensor.sock)
  --host NAME             host name written into records (default: this machine's)
  --log-level LEVEL       debug | info | warn | error (default info)

Every option can also be set in the config file or as VIGIL_* (see README).`;

export async function sensorCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      config: { type: "string" },
      output: { type: "string" },
      "window-seconds": { type: "string" },
      ngram: { type: "string" },
      "control-socket": { type: "string" },
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
    log: values["log-level"] ? { level: values["log-level"] } : undefined,
    sensor: {
      windowSeconds: num(values["window-seconds"], "--window-seconds"),
      ngram: num(values.ngram, "--ngram"),
      controlSocket: values["control-socket"],
    },
  } as ConfigInput;
  const config = loadConfig({
    ...(values.config ? { file: values.config } : {}),
    env: process.env,
    flags,
  });
  const logger = createLogger({ level: config.log.level });
  const running = await startSensor(config, logger);
  return new Promise<number>((resolve) => {
    let stopping = false;
    const stop = (code: number) => {
      if (stopping) return;
      stopping = true;
      logger.info("stopping sensor");
      running.stop().then(
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
