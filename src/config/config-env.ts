import { z } from "zod";
import { setPath } from "./config-layers.js";
import { configSchema, unwrap } from "./config-schema.js";

/**
 * Every scalar key (string, number, boolean, enum) can be set from the environment. The variable
 * is VIGIL_ followed by the key path's segments in UPPER_SNAKE_CASE, joined by "_":
 *   VIGIL_HOST -> host                      VIGIL_DATA_DIR -> dataDir
 *   VIGIL_OUTPUT -> output                  VIGIL_LOG_LEVEL -> log.level
 *   VIGIL_SENSOR_WINDOW_SECONDS -> sensor.windowSeconds
 *   VIGIL_SENSOR_PRIVACY_DISABLE_BUILTINS -> sensor.privacy.disableBuiltins
 *   VIGIL_SENSOR_HELPER_RESTART_MAX_DELAY_MS -> sensor.helperRestart.maxDelayMs
 * Numbers are decimal; booleans are true/false/1/0 (any case). A value that does not parse is
 * passed on as a string, so validation reports it under the variable's name. Arrays and rules
 * have no variable. VIGIL_CONFIG names the config file.
 */
export const CONFIG_ENV_VARS: readonly EnvVar[] = Object.freeze(envVars(configSchema, []));

export interface EnvVar {
  readonly name: string;
  readonly path: readonly string[];
  readonly kind: "string" | "number" | "boolean";
}

function envVars(schema: z.ZodTypeAny, path: readonly string[]): EnvVar[] {
  const s = unwrap(schema);
  const name = () =>
    ["VIGIL", ...path.map((k) => k.replace(/([a-z0-9])([A-Z])/g, "$1_$2"))].join("_").toUpperCase();
  if (s instanceof z.ZodObject) {
    return Object.entries(s.shape as Record<string, z.ZodTypeAny>).flatMap(([k, v]) =>
      envVars(v, [...path, k]),
    );
  }
  if (s instanceof z.ZodString || s instanceof z.ZodEnum)
    return [{ name: name(), path, kind: "string" }];
  if (s instanceof z.ZodNumber) return [{ name: name(), path, kind: "number" }];
  if (s instanceof z.ZodBoolean) return [{ name: name(), path, kind: "boolean" }];
  return [];
}

/** The VIGIL_* variables set in `env` as a layer, and the variable behind each key path ("a.b"). */
export function envLayer(env: NodeJS.ProcessEnv): {
  values: Record<string, unknown>;
  names: Map<string, string>;
} {
  const values: Record<string, unknown> = {};
  const names = new Map<string, string>();
  for (const v of CONFIG_ENV_VARS) {
    const raw = env[v.name];
    if (raw === undefined) continue;
    let value: unknown = raw;
    if (v.kind === "number" && /^\s*-?\d+(\.\d+)?\s*$/.test(raw)) value = Number(raw);
    if (v.kind === "boolean" && /^(true|1)$/i.test(raw.trim())) value = true;
    if (v.kind === "boolean" && /^(false|0)$/i.test(raw.trim())) value = false;
    setPath(values, v.path, value);
    names.set(v.path.join("."), v.name);
  }
  return { values, names };
}
