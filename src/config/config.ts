import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { isAbsolute } from "node:path";
import { z } from "zod";
import { ErrorCodes, VigilError } from "../errors.js";
import { DEFAULT_AGENT_RULES, RULE_MATCHER_KEYS, type Rule } from "../sensor/rules.js";

export const DEFAULT_CONFIG_FILE = "/etc/vigil/config.json";

export type LogLevel = "debug" | "info" | "warn" | "error";

/** Vigil's whole configuration, validated and deep-frozen. Each module gets its own slice. */
export interface Config {
  /** Names this machine in bus subjects and alerts. Default: os.hostname(). */
  readonly host: string;
  readonly dataDir: string;
  readonly sensor: SensorConfig;
  /** Where the sensor writes closed windows: "jsonl:-" (stdout) or "jsonl:<path>". */
  readonly output: string;
  readonly log: { readonly level: LogLevel };
}

export interface SensorConfig {
  readonly windowSeconds: number;
  /** Syscall n-gram length, 1..4. */
  readonly ngram: number;
  /** The BPF helper binary; "" means <repo>/bpf/build/vigil-bpf, resolved by the caller. */
  readonly helperPath: string;
  readonly controlSocket: string;
  readonly ngramMapEntries: number;
  readonly flowMapEntries: number;
  /** A power of two >= 4096, as the kernel requires of a BPF ring buffer. */
  readonly ringbufBytes: number;
  readonly reportUntrackedExecs: boolean;
  readonly workspaces: readonly string[];
  readonly privacy: PrivacyConfig;
  readonly secretGlobs: readonly string[];
  readonly helperRestart: HelperRestartConfig;
  /** The effective rules: `rules` as configured (default DEFAULT_AGENT_RULES), then `extraRules`. */
  readonly rules: readonly Rule[];
}

export interface PrivacyConfig {
  readonly homes: readonly string[] | "auto";
  readonly extraPatterns: readonly string[];
  readonly disableBuiltins: boolean;
}

export interface HelperRestartConfig {
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  readonly maxRestartsPerMinute: number;
}

const int = (min: number, max: number) => {
  const expected = `expected an integer from ${min} to ${max}`;
  return z.number().int(expected).min(min, expected).max(max, expected);
};
const nonEmpty = z.string().min(1, "expected a non-empty string");
const absolutePath = z.string().refine(isAbsolute, "expected an absolute path");
const powerOfTwo = z
  .number()
  .refine(
    (n) => n >= 4096 && n <= 2 ** 30 && Number.isInteger(Math.log2(n)),
    "expected a power of two from 4096 to 1073741824",
  );
const AGENT_TYPE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

function isRegExpSource(s: string): boolean {
  try {
    new RegExp(s);
    return true;
  } catch {
    return false;
  }
}

/** Drops keys whose value is undefined, so optional keys stay absent (exactOptionalPropertyTypes). */
function definedOnly<T extends object>(o: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]: Exclude<T[K], undefined>;
  };
}

const ruleSchema = z
  .object({
    agentType: z.string().regex(AGENT_TYPE, `expected an agent type matching ${AGENT_TYPE}`),
    comm: z
      .string()
      .min(1, "expected a non-empty string")
      .refine((s) => Buffer.byteLength(s) <= 15, "expected at most 15 bytes (the kernel's limit)")
      .optional(),
    exe: nonEmpty.optional(),
    argv: nonEmpty.refine(isRegExpSource, "expected a valid regular expression").optional(),
    cgroup: nonEmpty.optional(),
  })
  .strict()
  .refine((r) => RULE_MATCHER_KEYS.some((k) => r[k] !== undefined), {
    message: `expected at least one matcher: ${RULE_MATCHER_KEYS.join(", ")}`,
  })
  .transform((r): Rule => definedOnly(r));

const sensorSchema = z
  .object({
    windowSeconds: int(1, 3600).default(5),
    ngram: int(1, 4).default(3),
    helperPath: z.string().default(""),
    controlSocket: absolutePath.default("/run/vigil/sensor.sock"),
    ngramMapEntries: int(1, 2 ** 24).default(65536),
    flowMapEntries: int(1, 2 ** 24).default(16384),
    ringbufBytes: powerOfTwo.default(4194304),
    reportUntrackedExecs: z.boolean().default(true),
    workspaces: z.array(nonEmpty).default([]),
    privacy: z
      .object({
        homes: z
          .union([z.literal("auto"), z.array(nonEmpty)], {
            errorMap: () => ({ message: 'expected "auto" or an array of paths' }),
          })
          .default("auto"),
        extraPatterns: z.array(nonEmpty).default([]),
        disableBuiltins: z.boolean().default(false),
      })
      .strict()
      .default({}),
    secretGlobs: z.array(nonEmpty).default([]),
    helperRestart: z
      .object({
        initialDelayMs: int(1, 60_000).default(200),
        maxDelayMs: int(1, 600_000).default(10_000),
        maxRestartsPerMinute: int(1, 1000).default(10),
      })
      .strict()
      .refine((h) => h.initialDelayMs <= h.maxDelayMs, {
        message: "expected maxDelayMs >= initialDelayMs",
        path: ["maxDelayMs"],
      })
      .default({}),
    rules: z.array(ruleSchema).default(() => [...DEFAULT_AGENT_RULES]),
    extraRules: z.array(ruleSchema).default([]),
  })
  .strict()
  // Appending here means no consumer can forget extraRules, or apply them twice.
  .transform(({ extraRules, ...sensor }) => ({
    ...sensor,
    rules: [...sensor.rules, ...extraRules],
  }))
  .default({});

const configSchema = z
  .object({
    host: nonEmpty.default(() => hostname()),
    dataDir: absolutePath.default("/var/lib/vigil"),
    sensor: sensorSchema,
    output: z
      .string()
      .regex(/^jsonl:./s, 'expected "jsonl:-" (stdout) or "jsonl:<path>"')
      .default("jsonl:-"),
    log: z
      .object({ level: z.enum(["debug", "info", "warn", "error"]).default("info") })
      .strict()
      .default({}),
  })
  .strict() satisfies z.ZodType<Config, z.ZodTypeDef, unknown>;

/** What a file, the environment or flags may set; every key is optional and has a default. */
export type ConfigInput = z.input<typeof configSchema>;

export interface LoadConfigOptions {
  /**
   * A JSON config file, which must exist. Default: $VIGIL_CONFIG (also must exist), else
   * `defaultFile` if it exists, else no file.
   */
  file?: string;
  /** The environment to read VIGIL_* from; pass process.env. Nothing else reads it. */
  env?: NodeJS.ProcessEnv;
  /** Values from the command line; they override everything. Undefined values are unset. */
  flags?: ConfigInput;
  /** Where to look for a config file when none is named. Default: DEFAULT_CONFIG_FILE. */
  defaultFile?: string;
}

/**
 * Builds the configuration: defaults < file < VIGIL_* environment < flags, validated and
 * deep-frozen. Throws VigilError(CONFIG_FILE) for an unreadable or malformed file and
 * VigilError(CONFIG_INVALID) listing every bad value.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? {};
  const named = options.file ?? env.VIGIL_CONFIG;
  const file = named ?? options.defaultFile ?? DEFAULT_CONFIG_FILE;
  const fromFile = readConfigFile(file, named !== undefined);
  const fromEnv = envLayer(env);
  const merged = [fromFile, fromEnv.values, options.flags].reduce(merge, {});
  const parsed = configSchema.safeParse(merged, { errorMap });
  if (parsed.success) return deepFreeze(parsed.data);

  const sourceOf = (path: readonly PathKey[]): string | undefined => {
    if (getPath(options.flags, path) !== undefined) return "flags";
    const envName = fromEnv.names.get(path.join("."));
    if (envName !== undefined) return `env ${envName}`;
    return getPath(fromFile, path) === undefined ? undefined : `file ${file}`;
  };
  const problems = parsed.error.issues.flatMap((issue) => describe(issue, merged, sourceOf));
  throw new VigilError(
    ErrorCodes.CONFIG_INVALID,
    `invalid configuration (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n${problems.map((p) => `  - ${p}`).join("\n")}`,
    { hint: "correct the values listed, in the file, VIGIL_* variable or flag named" },
  );
}

type PathKey = string | number;

// ---- environment ----------------------------------------------------------------------------

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

/** Looks through defaults, transforms and optionals to the schema that checks the value. */
function unwrap(s: z.ZodTypeAny): z.ZodTypeAny {
  if (s instanceof z.ZodDefault) return unwrap(s.removeDefault());
  if (s instanceof z.ZodEffects) return unwrap(s.innerType());
  if (s instanceof z.ZodOptional) return unwrap(s.unwrap());
  return s;
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

function envLayer(env: NodeJS.ProcessEnv): {
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

// ---- layers ---------------------------------------------------------------------------------

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Objects merge key by key; anything else (arrays included) replaces; undefined means unset. */
function merge(base: unknown, over: unknown): unknown {
  if (over === undefined) return base;
  if (!isObject(base) || !isObject(over)) return over;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    // defineProperty, so a "__proto__" key from JSON stays a key (and is rejected as unknown).
    Object.defineProperty(out, k, {
      value: merge(out[k], v),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const k of path.slice(0, -1)) {
    const child = node[k];
    if (isObject(child)) {
      node = child;
    } else {
      const created: Record<string, unknown> = {};
      node[k] = created;
      node = created;
    }
  }
  const last = path.at(-1);
  if (last !== undefined) node[last] = value;
}

function getPath(source: unknown, path: readonly PathKey[]): unknown {
  let node = source;
  for (const k of path) {
    if (typeof node !== "object" || node === null || !Object.hasOwn(node, k)) return undefined;
    node = (node as Record<PathKey, unknown>)[k];
  }
  return node;
}

function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null) {
    Object.freeze(v);
    for (const child of Object.values(v)) deepFreeze(child);
  }
  return v;
}

// ---- file -----------------------------------------------------------------------------------

function readConfigFile(file: string, named: boolean): unknown {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && !named) return undefined;
    throw new VigilError(
      ErrorCodes.CONFIG_FILE,
      code === "ENOENT"
        ? `config file ${file} does not exist`
        : `cannot read config file ${file}: ${(cause as Error).message}`,
      { hint: "name an existing, readable JSON file, or none to use the defaults", cause },
    );
  }
  text = text.replace(/^\uFEFF/, "");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (cause) {
    // V8's messages carry a position for some errors only, so find it ourselves.
    const at = jsonErrorOffset(text);
    const before = text.slice(0, at).split("\n");
    const where = `line ${before.length}, column ${(before.at(-1) ?? "").length + 1} (position ${at})`;
    // Drop V8's own position and its echo of the (possibly long, multi-line) input.
    const reason = (cause as Error).message
      .replace(/, ".*" is not valid JSON$/s, "")
      .replace(/ in JSON at position \d+.*$/s, "");
    throw new VigilError(
      ErrorCodes.CONFIG_FILE,
      `config file ${file} is not valid JSON at ${where}: ${reason}`,
      { hint: "fix the JSON there; comments and trailing commas are not allowed", cause },
    );
  }
  // Checked here because a later layer would otherwise replace a non-object file wholesale.
  if (!isObject(value)) {
    const got = Array.isArray(value) ? "an array" : value === null ? "null" : typeof value;
    throw new VigilError(
      ErrorCodes.CONFIG_INVALID,
      `invalid configuration: config file ${file} holds ${got}, expected a JSON object`,
      { hint: 'write the settings as an object, e.g. {"sensor": {"windowSeconds": 5}}' },
    );
  }
  return value;
}

/** Offset of the first JSON syntax error in `text` (text.length if the input ends too soon). */
function jsonErrorOffset(text: string): number {
  let i = 0;
  const eat = (re: RegExp): boolean => {
    re.lastIndex = i;
    const m = re.exec(text);
    if (m === null || m[0] === "") return false;
    i = re.lastIndex;
    return true;
  };
  const ws = () => eat(/[ \t\n\r]+/y);
  const string = (): boolean => {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: JSON forbids raw control characters in strings
    eat(/"(?:[^"\\\u0000-\u001f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*/y);
    return text[i] === '"' && ++i > 0;
  };
  const list = (close: string, item: () => boolean): boolean => {
    i++;
    ws();
    if (text[i] === close) return ++i > 0;
    for (;;) {
      ws();
      if (!item()) return false;
      ws();
      if (text[i] === close) return ++i > 0;
      if (text[i] !== ",") return false;
      i++;
    }
  };
  const member = (): boolean => {
    if (text[i] !== '"' || !string()) return false;
    ws();
    if (text[i] !== ":") return false;
    i++;
    return value();
  };
  const value = (): boolean => {
    ws();
    if (text[i] === "{") return list("}", member);
    if (text[i] === "[") return list("]", value);
    if (text[i] === '"') return string();
    return eat(/-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?|true|false|null/y);
  };
  if (value()) ws();
  return i;
}

// ---- reporting ------------------------------------------------------------------------------

const errorMap: z.ZodErrorMap = (issue, ctx) => {
  if (issue.code === z.ZodIssueCode.invalid_type) {
    return {
      message:
        issue.received === "undefined"
          ? `required: expected ${issue.expected}`
          : `expected ${issue.expected}`,
    };
  }
  if (
    issue.code === z.ZodIssueCode.invalid_enum_value ||
    issue.code === z.ZodIssueCode.invalid_literal
  ) {
    const options =
      issue.code === z.ZodIssueCode.invalid_enum_value ? issue.options : [issue.expected];
    return { message: `expected one of ${options.map((o) => JSON.stringify(o)).join(", ")}` };
  }
  return { message: ctx.defaultError };
};

function formatPath(path: readonly PathKey[]): string {
  if (path.length === 0) return "(top level)";
  return path.map((k, i) => (typeof k === "number" ? `[${k}]` : i === 0 ? k : `.${k}`)).join("");
}

function preview(v: unknown): string {
  const s = JSON.stringify(v) ?? String(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** Keys the schema allows at `path`, for "unknown key" messages. */
function keysAt(path: readonly PathKey[]): string[] {
  let s: z.ZodTypeAny = configSchema;
  for (const k of path) {
    const u = unwrap(s);
    const next: z.ZodTypeAny | undefined =
      u instanceof z.ZodObject
        ? (u.shape as Record<string, z.ZodTypeAny>)[k]
        : u instanceof z.ZodArray
          ? u.element
          : undefined;
    if (next === undefined) return [];
    s = next;
  }
  const u = unwrap(s);
  return u instanceof z.ZodObject ? Object.keys(u.shape) : [];
}

function describe(
  issue: z.ZodIssue,
  input: unknown,
  sourceOf: (path: readonly PathKey[]) => string | undefined,
): string[] {
  const line = (path: readonly PathKey[], message: string, value?: unknown) => {
    const source = sourceOf(path);
    const got = value === undefined ? "" : `, got ${preview(value)}`;
    return `${formatPath(path)}: ${message}${got}${source === undefined ? "" : ` (from ${source})`}`;
  };
  if (issue.code === z.ZodIssueCode.unrecognized_keys) {
    const known = keysAt(issue.path).join(", ");
    return issue.keys.map((k) =>
      line([...issue.path, k], `unknown key (expected one of: ${known})`),
    );
  }
  return [line(issue.path, issue.message, getPath(input, issue.path))];
}
