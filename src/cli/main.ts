#!/usr/bin/env node
/**
 * `vigil <command>`: the command-line entry. Parses flags, loads the configuration once and
 * hands it to the command. Errors a person can fix are printed as one message with its fix.
 */
import { isVigilError } from "../errors.js";
import { execCommand } from "./exec-command.js";
import { probeCommand } from "./probe-command.js";
import { sensorCommand } from "./sensor-command.js";

const USAGE = `usage: vigil <command> [options]

commands:
  run        run Vigil on this host (today: the sensor; see README)
  sensor     run the eBPF sensor and write window records
  exec       run a command as a tracked agent: vigil exec --agent-type T [--agent-id ID] -- cmd...
  probe      check what this kernel supports (needs root)

Run 'vigil <command> --help' for a command's options.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "run":
    case "sensor":
      return sensorCommand(rest);
    case "exec":
      return execCommand(rest);
    case "probe":
      return probeCommand(rest);
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
