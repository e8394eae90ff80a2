#!/usr/bin/env node
/**
 * `vigil <command>`: the command-line entry. Parses flags, loads the configuration once and
 * hands it to the command. Errors a person can fix are printed as one message with its fix.
 */
import { isVigilError } from "../errors.js";
import { captureCommand } from "./capture-command.js";
import { demoCommand } from "./demo-command.js";
import { evalCommand } from "./eval-command.js";
import { execCommand } from "./exec-command.js";
import { probeCommand } from "./probe-command.js";
import { replayCommand } from "./replay-command.js";
import { scorerCommand } from "./scorer-command.js";
import { sensorCommand } from "./sensor-command.js";
import { statusCommand } from "./status-command.js";
import { tailCommand } from "./tail-command.js";
import { trainCommand } from "./train-command.js";

const USAGE = `usage: vigil <command> [options]

commands:
  run        run Vigil on this host: embedded NATS (unless --nats), the sensor and the scorer
  sensor     run the eBPF sensor; windows to NATS (--nats URL) or --output jsonl:FILE
  scorer     score windows from NATS, send explained alerts to Alertmanager, serve /metrics
  status     each agent type's state: learning x %, active model, broken, last alert
  exec       run a command as a tracked agent: vigil exec --agent-type T [--agent-id ID] -- cmd...
  probe      check what this kernel supports (needs root)
  capture    record an agent type's windows: vigil capture --agent-type T --out DIR [--duration 10m]
  replay     publish a capture's windows again: vigil replay DIR [--speed N]
  tail       print live windows (or events, alerts, dead letters) from the bus
  train      train an agent type's model: vigil train --agent-type T --data DIR [DIR...]
  eval       measure detection: vigil eval adfa-ld --path DIR | vigil eval scenarios [--quick]
  demo       learn an agent, attack it, and see the alert Alertmanager gets (needs root)

Run 'vigil <command> --help' for a command's options.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "run":
      return sensorCommand(rest, true);
    case "sensor":
      return sensorCommand(rest);
    case "scorer":
      return scorerCommand(rest);
    case "status":
      return statusCommand(rest);
    case "exec":
      return execCommand(rest);
    case "probe":
      return probeCommand(rest);
    case "capture":
      return captureCommand(rest);
    case "replay":
      return replayCommand(rest);
    case "tail":
      return tailCommand(rest);
    case "train":
      return trainCommand(rest);
    case "eval":
      return evalCommand(rest);
    case "demo":
      return demoCommand(rest);
    case undefined:
    case "-h":
    case "--help":
    case "help":
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`vigil: unknown command "${command}"\n\n${USAGE}\n`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(
      `vigil: ${isVigilError(e) ? `${e.toUserString()}\n  (${e.code})` : ((e as Error).stack ?? String(e))}\n`,
    );
    process.exitCode = 1;
  },
);
