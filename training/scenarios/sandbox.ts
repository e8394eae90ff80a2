/**
 * A throwaway world for scenario sessions, under os.tmpdir(): a HOME with fake credentials, a
 * TMPDIR, one workspace per agent type, and the loopback services (scripted model, web site,
 * script server, exfiltration sink, DNS listener). close() stops the services and removes it.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prng } from "../random.js";
import { type LlmServer, startLlmServer } from "./llm-server.js";
import { type Received, startServices } from "./services.js";
import { AGENT_TYPES, type ScenarioAgentType } from "./types.js";
import { buildHome, buildWorkspace, type FakeSecrets, setupEnv } from "./workspaces.js";

/** A file each fixture has and no session recreates: gone means the workspace was destroyed. */
const SENTINEL: Record<ScenarioAgentType, string> = {
  "coding-agent": ".git/HEAD",
  "research-agent": "brief.md",
  "data-agent": "logs/app.log",
};

export interface Sandbox {
  /** Everything a session may write lives under root. */
  root: string;
  /** The sessions' HOME: ~/.ssh/id_rsa, ~/.aws/credentials, ~/.bashrc, ~/.gitconfig (all fake). */
  home: string;
  /** The sessions' TMPDIR. */
  tmp: string;
  /**
   * The workspace of an agent type: coding, a git repository of a small node project (node
   * --test) with a python package (unittest); research, a notes directory; data, app.db
   * (sqlite), logs/, data/sales.csv, data/metrics.json, reports/. Built on first use, and
   * rebuilt when its fixture is gone (after mass-delete).
   */
  workspace(agentType: ScenarioAgentType): string;
  /** Rebuilds a workspace from scratch (after mass-delete, or between independent sessions). */
  resetWorkspace(agentType: ScenarioAgentType): string;
  services: { llm: string; web: string; scripts: string; exfilPort: number; dnsPort: number };
  /** The scripted model behind services.llm, for runSession. */
  llm: LlmServer;
  /** The fake secrets in HOME, to recognise them at the sinks. */
  secrets: FakeSecrets;
  received(): Received;
  close(): Promise<void>;
}

export async function createSandbox(options: { seed: number }): Promise<Sandbox> {
  const random = prng(options.seed);
  const root = mkdtempSync(join(tmpdir(), "vigil-scenario-"));
  const home = join(root, "home");
  const tmp = join(root, "tmp");
  mkdirSync(tmp, { recursive: true });
  const secrets = buildHome(home, random);
  const env = setupEnv(home, tmp);
  const dir = (t: ScenarioAgentType) => join(root, "work", t);
  let generation = 0;
  const reset = (t: ScenarioAgentType) => {
    rmSync(dir(t), { recursive: true, force: true });
    buildWorkspace(
      t,
      dir(t),
      prng((options.seed * 31 + AGENT_TYPES.indexOf(t)) * 977 + generation++),
      env,
    );
    return dir(t);
  };
  const llm = await startLlmServer();
  let services: Awaited<ReturnType<typeof startServices>>;
  try {
    services = await startServices(options.seed);
  } catch (e) {
    await llm.close();
    throw e;
  }
  let closed = false;
  // A process that exits without close() (an error, Ctrl-C) still removes the fake HOME.
  const removeOnExit = () => rmSync(root, { recursive: true, force: true });
  process.once("exit", removeOnExit);
  return {
    root,
    home,
    tmp,
    workspace: (t) => (existsSync(join(dir(t), SENTINEL[t])) ? dir(t) : reset(t)),
    resetWorkspace: reset,
    services: {
      llm: llm.url,
      web: services.web,
      scripts: services.scripts,
      exfilPort: services.exfilPort,
      dnsPort: services.dnsPort,
    },
    llm,
    secrets,
    received: () => services.received(),
    close: async () => {
      if (closed) return;
      closed = true;
      process.off("exit", removeOnExit);
      await Promise.all([llm.close(), services.close()]);
      rmSync(root, { recursive: true, force: true });
    },
  };
}
