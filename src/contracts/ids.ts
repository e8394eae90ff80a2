/**
 * The identifiers and bounds every message and every path built from one must respect. A
 * message that crosses the bus comes from a peer that may be hostile, so an agent type is a
 * short lower-case name, never a path ("x/../claude-code"), and every string and list has a
 * ceiling: a forged window cannot be made to fill the scorer's memory or its label sets.
 */
import { z } from "zod";

/** An agent type: a model directory's name, a metric label, a subject token. */
export const AGENT_TYPE = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** An agent instance's id: `vigil exec --agent-id`, or the sensor's random hex. */
export const AGENT_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
/** A host name as the sensor writes it (a DNS name or what `hostname` says). */
export const HOST = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,252}$/;
/** A model version: a directory name under models/<agentType>/. */
export const VERSION = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/;

/** Ceilings on what one message may carry; far above what the sensor writes (see its caps). */
export const LIMITS = {
  /** A path, an address, an argument, a summary. */
  string: 4096,
  /** argv and privilege arguments of one item. */
  args: 256,
  /** execs, files, net, privilege items in one window. */
  items: 16_384,
  /** n-grams in one window (the helper's n-gram map is at most 65536 entries). */
  ngrams: 65_536,
  /** Features and novel items in one alert's explanation. */
  explanation: 256,
} as const;

export const agentTypeSchema = z
  .string()
  .regex(AGENT_TYPE, `expected an agent type matching ${AGENT_TYPE}`);
export const agentIdSchema = z
  .string()
  .regex(AGENT_ID, `expected an agent id matching ${AGENT_ID}`);
export const hostSchema = z.string().regex(HOST, `expected a host name matching ${HOST}`);
export const versionSchema = z
  .string()
  .regex(VERSION, `expected a model version matching ${VERSION}`);

/** A bounded string: never a way to make a message's parsed form larger than its bytes. */
export const text = z.string().max(LIMITS.string);
export const args = z.array(text).max(LIMITS.args);

export function isAgentType(s: unknown): boolean {
  return typeof s === "string" && AGENT_TYPE.test(s);
}

/**
 * <root>/<agentType>: the only way a path is built from an agent type. Throws on anything that
 * is not an agent type, so a name from a message can never climb out of `root`.
 */
export function agentTypeDir(root: string, agentType: string): string {
  if (!isAgentType(agentType)) {
    throw new Error(`refusing to build a path from the agent type ${JSON.stringify(agentType)}`);
  }
  return `${root.replace(/\/+$/, "")}/${agentType}`;
}

/** <dir>/<version>, for a version name that is a plain directory name. */
export function versionDir(dir: string, version: string): string {
  if (!VERSION.test(version)) {
    throw new Error(`refusing to build a path from the model version ${JSON.stringify(version)}`);
  }
  return `${dir.replace(/\/+$/, "")}/${version}`;
}
