/**
 * Reads an Atomic Red Team library: `atomics/<ID>/<ID>.yaml`, one file per ATT&CK technique.
 * Works on any subset and on a full checkout (whose `atomics/Indexes/` and other folders are
 * skipped). One broken file is reported and the others still load, so a user's own edits to a
 * library cannot hide every other technique.
 */
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { parse } from "yaml";
import { ErrorCodes, VigilError } from "../../src/errors.js";

/** One input argument of a test, as the library declares it. */
export interface AtomicInputArgument {
  description: string;
  /** Lower-cased (`string`, `path`, `url`, `integer`, ...): the library spells them both ways. */
  type: string;
  /** The default exactly as written in the YAML (never a parsed number); "" when missing. */
  default: string;
}

/** A dependency: `prereqCommand` exits 0 when satisfied, else `getPrereqCommand` satisfies it. */
export interface AtomicDependency {
  description: string;
  prereqCommand: string;
  getPrereqCommand: string;
}

/** One test of a technique, before argument substitution (see resolve.ts). */
export interface AtomicTest {
  /** ATT&CK ID of the file, e.g. "T1552.004". */
  technique: string;
  /** The file's `display_name`. */
  techniqueName: string;
  /** 1-based position in `atomic_tests`, as Invoke-AtomicTest's -TestNumbers counts. */
  number: number;
  name: string;
  /** `auto_generated_guid`; "" when the file has none (a user's own test). */
  guid: string;
  description: string;
  /** Lower-cased `supported_platforms`. */
  platforms: string[];
  inputArguments: Record<string, AtomicInputArgument>;
  /** `dependency_executor_name`, lower-cased, when set. */
  dependencyExecutor?: string;
  dependencies: AtomicDependency[];
  executor: {
    /** Lower-cased and trimmed: `sh`, `bash`, `powershell`, `command_prompt`, `manual`, ... */
    name: string;
    /** "" for manual tests, which have steps instead of a command. */
    command: string;
    cleanupCommand?: string;
    elevationRequired: boolean;
  };
  /** Absolute path of the YAML file the test came from. */
  file: string;
}

/** A file that could not be read, or a test in it that lacks required fields. */
export interface AtomicLoadError {
  file: string;
  message: string;
}

/** What `loadAtomics` found. */
export interface AtomicLibrary {
  /** The absolute `atomics/` folder (what `PathToAtomicsFolder` means). */
  atomicsDir: string;
  /** Sorted by technique ID, then test number. */
  tests: AtomicTest[];
  errors: AtomicLoadError[];
}

const TECHNIQUE_ID = /^T\d{4}(\.\d{3})?$/;

/**
 * Loads the library at `dir` (the `atomics/` folder itself or a checkout root containing it).
 * `techniques` filters: "T1552" selects T1552 and every T1552.xxx, "T1552.004" only itself; an ID
 * that selects nothing throws VIGIL_ERR_USAGE.
 */
export function loadAtomics(
  dir: string,
  o: { techniques?: readonly string[] } = {},
): AtomicLibrary {
  const atomicsDir = findAtomicsDir(dir);
  const ids = readdirSync(atomicsDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && TECHNIQUE_ID.test(d.name))
    .map((d) => d.name)
    .sort(); // plain order puts T1552 before T1552.001 before T1553
  const selected = selectTechniques(ids, o.techniques);
  const tests: AtomicTest[] = [];
  const errors: AtomicLoadError[] = [];
  for (const id of selected) {
    const file = join(atomicsDir, id, `${id}.yaml`);
    if (!existsSync(file)) {
      errors.push({ file, message: `${id}/ has no ${id}.yaml` });
      continue;
    }
    try {
      // Failsafe keeps every scalar as written (a default of 0755 stays "0755"); a repeated
      // key is a slip a user's edit makes, not a reason to drop the whole technique.
      const doc: unknown = parse(readFileSync(file, "utf8"), {
        schema: "failsafe",
        uniqueKeys: false,
        logLevel: "error",
      });
      tests.push(...readTechnique(doc, id, file, errors));
    } catch (e) {
      errors.push({ file, message: `cannot parse: ${(e as Error).message.split("\n")[0]}` });
    }
  }
  return { atomicsDir, tests, errors };
}

function findAtomicsDir(dir: string): string {
  const root = resolve(dir);
  const nested = join(root, "atomics");
  if (isDir(nested)) return nested;
  if (isDir(root) && readdirSync(root).some((n) => TECHNIQUE_ID.test(n))) return root;
  throw new VigilError(ErrorCodes.USAGE, `no Atomic Red Team library at ${root}`, {
    hint: "pass the atomics/ folder of an atomic-red-team checkout, or the checkout itself",
  });
}

function isDir(p: string): boolean {
  return existsSync(p) && statSync(p).isDirectory();
}

function selectTechniques(ids: string[], filter: readonly string[] | undefined): string[] {
  if (filter === undefined || filter.length === 0) return ids;
  const wanted = filter.map((f) => f.trim().toUpperCase());
  const matches = (id: string, f: string) =>
    id === f || (!f.includes(".") && id.startsWith(`${f}.`));
  const unknown = wanted.filter((f) => !ids.some((id) => matches(id, f)));
  if (unknown.length > 0) {
    throw new VigilError(ErrorCodes.USAGE, `unknown technique(s): ${unknown.join(", ")}`, {
      hint: "use IDs such as T1552 or T1552.004 that have a folder under atomics/",
    });
  }
  return ids.filter((id) => wanted.some((f) => matches(id, f)));
}

type Yaml = Record<string, unknown>;

function isMap(v: unknown): v is Yaml {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Failsafe YAML gives every scalar as written; `~` and `null` mean "no value". */
function text(v: unknown): string {
  if (typeof v !== "string") return "";
  return /^(~|null)$/i.test(v.trim()) ? "" : v;
}

function readTechnique(doc: unknown, id: string, file: string, errors: AtomicLoadError[]) {
  if (!isMap(doc) || !Array.isArray(doc.atomic_tests)) {
    errors.push({ file, message: "missing atomic_tests (a list of tests)" });
    return [];
  }
  const technique = TECHNIQUE_ID.test(text(doc.attack_technique).trim())
    ? text(doc.attack_technique).trim()
    : id;
  const techniqueName = text(doc.display_name).trim();
  const tests: AtomicTest[] = [];
  doc.atomic_tests.forEach((raw: unknown, i: number) => {
    const number = i + 1;
    const problem = missingFields(raw);
    if (problem !== undefined || !isMap(raw)) {
      errors.push({ file, message: `test ${number}: ${problem ?? "not a mapping"}` });
      return;
    }
    const executor = raw.executor as Yaml;
    const cleanup = text(executor.cleanup_command);
    const depExecutor = text(raw.dependency_executor_name).trim().toLowerCase();
    tests.push({
      technique,
      techniqueName,
      number,
      name: text(raw.name).trim(),
      guid: text(raw.auto_generated_guid).trim(),
      description: text(raw.description),
      platforms: list(raw.supported_platforms).map((p) => p.trim().toLowerCase()),
      inputArguments: readArguments(raw.input_arguments),
      ...(depExecutor ? { dependencyExecutor: depExecutor } : {}),
      dependencies: (Array.isArray(raw.dependencies) ? raw.dependencies : [])
        .filter(isMap)
        .map((d) => ({
          description: text(d.description),
          prereqCommand: text(d.prereq_command),
          getPrereqCommand: text(d.get_prereq_command),
        })),
      executor: {
        name: text(executor.name).trim().toLowerCase(),
        command: text(executor.command),
        ...(cleanup.trim() ? { cleanupCommand: cleanup } : {}),
        elevationRequired: /^(true|yes|on)$/i.test(text(executor.elevation_required).trim()),
      },
      file,
    });
  });
  return tests;
}

function missingFields(raw: unknown): string | undefined {
  if (!isMap(raw)) return "not a mapping";
  if (!text(raw.name).trim()) return "missing name";
  if (!isMap(raw.executor) || !text(raw.executor.name).trim()) return "missing executor.name";
  const name = text(raw.executor.name).trim().toLowerCase();
  if (name !== "manual" && !text(raw.executor.command).trim()) return "missing executor.command";
  return undefined;
}

function list(v: unknown): string[] {
  if (Array.isArray(v)) return v.map(text).filter((s) => s !== "");
  return text(v) ? [text(v)] : [];
}

function readArguments(v: unknown): Record<string, AtomicInputArgument> {
  const out: Record<string, AtomicInputArgument> = {};
  if (!isMap(v)) return out;
  for (const [name, arg] of Object.entries(v)) {
    const a = isMap(arg) ? arg : {};
    out[name] = {
      description: text(a.description).trim(),
      type: text(a.type).trim().toLowerCase(),
      default: text(a.default),
    };
  }
  return out;
}
