import { hostname } from "node:os";
import { isAbsolute } from "node:path";
import { z } from "zod";
import { AGENT_TYPE } from "../contracts/index.js";
import { linearRegExpProblem } from "../sensor/linear-regex.js";
import { DEFAULT_AGENT_RULES, RULE_MATCHER_KEYS, RULE_OWNERS, type Rule } from "../sensor/rules.js";

export type LogLevel = "debug" | "info" | "warn" | "error";

/** Vigil's whole configuration, validated and deep-frozen. Each module gets its own slice. */
export interface Config {
  /** Names this machine in bus subjects and alerts. Default: os.hostname(). */
  readonly host: string;
  readonly dataDir: string;
  readonly sensor: SensorConfig;
  /** Where the sensor sends closed windows: "nats" (the bus), "jsonl:-" (stdout) or "jsonl:<path>". */
  readonly output: string;
  readonly nats: NatsConfig;
  readonly scorer: ScorerConfig;
  readonly log: { readonly level: LogLevel };
}

export interface ScorerConfig {
  /** Model directories: <modelsDir>/<agentType>/<version>/. "" = <dataDir>/models. */
  readonly modelsDir: string;
  /** JetStream durable consumer name; scorers sharing it split the windows. */
  readonly durable: string;
  /** Share of windows scored per agent type (0..1); windows carrying novelty always are. */
  readonly sampling: {
    readonly defaultRate: number;
    readonly rates: Readonly<Record<string, number>>;
  };
  /** Windows scored together in one ONNX run, and the longest a window waits for a batch. */
  readonly batch: { readonly maxWindows: number; readonly maxDelayMs: number };
  readonly alertmanager: {
    /** Alertmanager base URLs, comma-separated ("" = publish alerts on NATS only). */
    readonly urls: string;
    readonly timeoutMs: number;
    readonly maxBackoffMs: number;
  };
  readonly alerts: {
    /** An active alert resolves after this many normal windows of its instance in a row. */
    readonly resolveAfterWindows: number;
    /** An active alert is re-sent this often (Alertmanager's resend interval). */
    readonly resendIntervalSeconds: number;
    /**
     * Alert on novelty that is dangerous on its own even under the threshold: a secret file, a
     * privilege call, or a new program with a new destination, never seen in the baseline.
     */
    readonly riskyNovelty: boolean;
  };
  /** /metrics, /healthz, /readyz, /status; loopback by default. */
  readonly http: { readonly listen: string };
  /** Agent types with no model are learned: capture, train, promote, then detect. */
  readonly learning: {
    readonly enabled: boolean;
    readonly minWindows: number;
    readonly minDurationSeconds: number;
    /**
     * Whose windows may become baseline, by the uid the agent runs as: "trusted" (root and
     * sensor.trustedUids) or a list. Other windows are scored once a model exists, never learned.
     */
    readonly uids: "trusted" | readonly number[];
  };
  /** How often the models directory is re-read (it is also watched). */
  readonly reloadIntervalMs: number;
}

export interface NatsConfig {
  /** NATS server URL(s), comma-separated; "" = start an embedded nats-server on loopback. */
  readonly url: string;
  readonly user: string;
  readonly password: string;
  readonly token: string;
  /** A NATS .creds file (JWT + nkey seed). */
  readonly credsFile: string;
  readonly tls: { readonly caFile: string; readonly certFile: string; readonly keyFile: string };
  /** Allow connecting to a remote server without credentials (refused by default). */
  readonly allowAnonymous: boolean;
  readonly embedded: { readonly binary: string; readonly maxPayload: number };
  /** Largest message Vigil publishes or accepts; bigger ones go to the dead-letter queue. */
  readonly maxMessageBytes: number;
  /** The sensor's buffer while NATS is slow or unreachable; past it the oldest windows drop. */
  readonly buffer: { readonly maxWindows: number; readonly maxBytes: number };
  readonly streams: {
    readonly windowsMaxAgeSeconds: number;
    readonly windowsMaxBytes: number;
    readonly eventsMaxAgeSeconds: number;
    readonly eventsMaxBytes: number;
    readonly alertsMaxAgeSeconds: number;
    readonly alertsMaxBytes: number;
    readonly dlqMaxAgeSeconds: number;
    readonly dlqMaxBytes: number;
  };
}

export interface SensorConfig {
  readonly windowSeconds: number;
  /** Syscall n-gram length, 1..4. */
  readonly ngram: number;
  /** The BPF helper binary; "" means <repo>/bpf/build/vigil-bpf, resolved by the caller. */
  readonly helperPath: string;
  readonly controlSocket: string;
  /** A group (name or gid) whose members may use the control socket for their own processes. */
  readonly controlGroup: string;
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
  /**
   * Uids trusted besides root: files they own (in directories only trusted uids can write) may
   * be agents for rules with an owner, and, by default, their agents' windows are learned.
   */
  readonly trustedUids: readonly number[];
  /** Instances found by rules that may run at once per uid; more are refused and counted. */
  readonly maxInstancesPerUid: number;
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
const uid = int(0, 2 ** 32 - 2);
const absolutePath = z.string().refine(isAbsolute, "expected an absolute path");
const powerOfTwo = z
  .number()
  .refine(
    (n) => n >= 4096 && n <= 2 ** 30 && Number.isInteger(Math.log2(n)),
    "expected a power of two from 4096 to 1073741824",
  );

/**
 * A regular expression an operator gives: it runs on every exec, so it must compile on the
 * linear-time engine; the message says what to change.
 */
const linearRegExp = nonEmpty.superRefine((s, ctx) => {
  const problem = linearRegExpProblem(s);
  if (problem !== undefined) ctx.addIssue({ code: z.ZodIssueCode.custom, message: problem });
});

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
    script: nonEmpty.optional(),
    owner: z.enum(RULE_OWNERS).optional(),
    argv: linearRegExp.optional(),
    cgroup: nonEmpty.optional(),
  })
  .strict()
  .refine((r) => RULE_MATCHER_KEYS.some((k) => r[k] !== undefined), {
    message: `expected at least one matcher: ${RULE_MATCHER_KEYS.join(", ")}`,
  })
  .refine((r) => r.owner === undefined || r.exe !== undefined || r.script !== undefined, {
    message: "owner applies to exe and script: give one, or drop owner",
    path: ["owner"],
  })
  .transform((r): Rule => definedOnly(r));

const sensorSchema = z
  .object({
    windowSeconds: int(1, 3600).default(5),
    ngram: int(1, 4).default(3),
    helperPath: z.string().default(""),
    controlSocket: absolutePath.default("/run/vigil/sensor.sock"),
    controlGroup: z
      .string()
      .regex(/^(|[0-9]+|[a-z_][a-z0-9_-]{0,31})$/, "a group name or a numeric gid")
      .default(""),
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
        extraPatterns: z.array(linearRegExp).default([]),
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
    trustedUids: z.array(uid).max(1024).default([]),
    maxInstancesPerUid: int(1, 100_000).default(64),
  })
  .strict()
  // Appending here means no consumer can forget extraRules, or apply them twice.
  .transform(({ extraRules, ...sensor }) => ({
    ...sensor,
    rules: [...sensor.rules, ...extraRules],
  }))
  .default({});

const natsSchema = z
  .object({
    url: z.string().default(""),
    user: z.string().default(""),
    password: z.string().default(""),
    token: z.string().default(""),
    credsFile: z.string().default(""),
    tls: z
      .object({
        caFile: z.string().default(""),
        certFile: z.string().default(""),
        keyFile: z.string().default(""),
      })
      .strict()
      .default({}),
    allowAnonymous: z.boolean().default(false),
    embedded: z
      .object({
        binary: nonEmpty.default("nats-server"),
        maxPayload: int(1024, 64 * 1024 ** 2).default(8 * 1024 ** 2),
      })
      .strict()
      .default({}),
    maxMessageBytes: int(1024, 64 * 1024 ** 2).default(4 * 1024 ** 2),
    buffer: z
      .object({
        maxWindows: int(1, 10_000_000).default(10_000),
        maxBytes: int(1024, 2 ** 40).default(256 * 1024 ** 2),
      })
      .strict()
      .default({}),
    streams: z
      .object({
        windowsMaxAgeSeconds: int(60, 10 * 365 * 86400).default(86400),
        windowsMaxBytes: int(1024 ** 2, 2 ** 50).default(1024 ** 3),
        eventsMaxAgeSeconds: int(60, 10 * 365 * 86400).default(86400),
        eventsMaxBytes: int(1024 ** 2, 2 ** 50).default(1024 ** 3),
        alertsMaxAgeSeconds: int(60, 10 * 365 * 86400).default(90 * 86400),
        alertsMaxBytes: int(1024 ** 2, 2 ** 50).default(256 * 1024 ** 2),
        dlqMaxAgeSeconds: int(60, 10 * 365 * 86400).default(7 * 86400),
        dlqMaxBytes: int(1024 ** 2, 2 ** 50).default(256 * 1024 ** 2),
      })
      .strict()
      .default({}),
  })
  .strict()
  .default({});

const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):\d{1,5}$/;

const scorerSchema = z
  .object({
    modelsDir: z.string().default(""),
    durable: z
      .string()
      .regex(/^[A-Za-z0-9_-]+$/, "expected letters, digits, _ or -")
      .default("vigil-scorer"),
    sampling: z
      .object({
        defaultRate: z.number().min(0).max(1).default(1),
        rates: z.record(z.string(), z.number().min(0).max(1)).default({}),
      })
      .strict()
      .default({}),
    batch: z
      .object({
        maxWindows: int(1, 4096).default(64),
        maxDelayMs: int(0, 10_000).default(20),
      })
      .strict()
      .default({}),
    alertmanager: z
      .object({
        urls: z
          .string()
          .refine(
            (s) =>
              s.split(",").every((u) => u.trim() === "" || /^https?:\/\/[^\s]+$/.test(u.trim())),
            "expected http(s) URLs, comma-separated",
          )
          .default(""),
        timeoutMs: int(100, 120_000).default(5000),
        maxBackoffMs: int(100, 3_600_000).default(60_000),
      })
      .strict()
      .default({}),
    alerts: z
      .object({
        resolveAfterWindows: int(1, 10_000).default(3),
        resendIntervalSeconds: int(1, 86_400).default(60),
        riskyNovelty: z.boolean().default(true),
      })
      .strict()
      .default({}),
    http: z
      .object({
        listen: z
          .string()
          .regex(HOST_PORT, 'expected "host:port", e.g. 127.0.0.1:9464')
          .default("127.0.0.1:9464"),
      })
      .strict()
      .default({}),
    learning: z
      .object({
        enabled: z.boolean().default(true),
        minWindows: int(50, 10_000_000).default(500),
        minDurationSeconds: int(0, 30 * 86_400).default(3600),
        uids: z
          .union([z.literal("trusted"), z.array(uid).max(1024)], {
            errorMap: () => ({ message: 'expected "trusted" or an array of uids' }),
          })
          .default("trusted"),
      })
      .strict()
      .default({}),
    reloadIntervalMs: int(100, 3_600_000).default(5000),
  })
  .strict()
  .default({});

export const configSchema = z
  .object({
    host: nonEmpty.default(() => hostname()),
    dataDir: absolutePath.default("/var/lib/vigil"),
    sensor: sensorSchema,
    output: z
      .string()
      .regex(/^(nats|jsonl:.+)$/s, 'expected "nats", "jsonl:-" (stdout) or "jsonl:<path>"')
      .default("nats"),
    nats: natsSchema,
    scorer: scorerSchema,
    log: z
      .object({ level: z.enum(["debug", "info", "warn", "error"]).default("info") })
      .strict()
      .default({}),
  })
  .strict() satisfies z.ZodType<Config, z.ZodTypeDef, unknown>;

/** What a file, the environment or flags may set; every key is optional and has a default. */
export type ConfigInput = z.input<typeof configSchema>;

/** Looks through defaults, transforms and optionals to the schema that checks the value. */
export function unwrap(s: z.ZodTypeAny): z.ZodTypeAny {
  if (s instanceof z.ZodDefault) return unwrap(s.removeDefault());
  if (s instanceof z.ZodEffects) return unwrap(s.innerType());
  if (s instanceof z.ZodOptional) return unwrap(s.unwrap());
  return s;
}
