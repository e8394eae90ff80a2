/** `vigil demo`: learn one agent type, attack it, print the alert as Alertmanager shows it. */
import { parseArgs } from "node:util";
import { ErrorCodes, VigilError } from "../errors.js";
import { exitOnSignals } from "./signals.js";

const HELP = `usage: vigil demo [--agent-type coding-agent|research-agent|data-agent] [--attack NAME]

Vigil end to end in about two minutes, as root: starts the sensor, NATS, the scorer and a
local Alertmanager; lets an agent of the type work in a throwaway sandbox while Vigil learns
its baseline; then runs the same agent prompt-injected, and prints the alert Alertmanager got.

  --agent-type T   coding-agent (default), research-agent or data-agent
  --attack NAME    exfil-credentials (default), reverse-shell, download-execute, read-shadow,
                   persistence, mass-delete, privesc-probe, dns-tunnel
  --sessions N     benign sessions to learn from (default 20)
  --seed N         default 0`;

export async function demoCommand(argv: string[]): Promise<number> {
  let values: {
    "agent-type": string;
    attack: string;
    sessions: string;
    seed: string;
    help?: boolean;
  };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        "agent-type": { type: "string", default: "coding-agent" },
        attack: { type: "string", default: "exfil-credentials" },
        sessions: { type: "string", default: "20" },
        seed: { type: "string", default: "0" },
        help: { type: "boolean", short: "h" },
      },
      strict: true,
    }));
  } catch (e) {
    throw new VigilError(ErrorCodes.USAGE, (e as Error).message.split("\n")[0] ?? "bad options", {
      hint: "run 'vigil demo --help'",
    });
  }
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return 0;
  }
  const { AGENT_TYPES, ATTACKS } = await import("../../training/scenarios/index.js");
  const type = AGENT_TYPES.find((t) => t === values["agent-type"]);
  const attack = ATTACKS.find((a) => a === values.attack);
  const sessions = Number(values.sessions);
  const seed = Number(values.seed);
  if (
    !type ||
    !attack ||
    !Number.isSafeInteger(sessions) ||
    sessions < 5 ||
    !Number.isSafeInteger(seed) ||
    seed < 0
  ) {
    throw new VigilError(
      ErrorCodes.USAGE,
      "vigil demo: unknown --agent-type or --attack, or a bad number",
      {
        hint: `agent types: ${AGENT_TYPES.join(", ")}; attacks: ${ATTACKS.join(", ")}; --sessions >= 5`,
      },
    );
  }
  const { runDemo } = await import("../../training/demo.js");
  exitOnSignals("demo");
  const alert = await runDemo({
    agentType: type,
    attack,
    seed,
    baselineSessions: sessions,
    windowSeconds: 1,
    say: (line) => process.stdout.write(`${line}\n`),
  });
  return alert ? 0 : 1;
}
