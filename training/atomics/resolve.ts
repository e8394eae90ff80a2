/**
 * Argument substitution as the Atomic Red Team runner does it: `#{name}` becomes the argument's
 * value (a user override, else the default), `PathToAtomicsFolder` and `$PathToAtomicsFolder`
 * become the absolute atomics folder. Unlike the runner, names match case-insensitively, defaults
 * that name other arguments are resolved too, and a placeholder with no argument behind it is
 * reported in `unresolved` instead of being passed to the shell as literal text.
 */
import type { AtomicTest } from "./library.js";

/** A dependency after substitution: run `check`; when it fails, `get` is meant to fix it. */
export interface ResolvedPrereq {
  description: string;
  check: string;
  get: string;
}

/** A test ready to hand to a shell: every text is substituted. */
export interface ResolvedTest {
  test: AtomicTest;
  atomicsDir: string;
  /** Every declared argument (plus any override of an undeclared name), fully substituted. */
  args: Record<string, string>;
  command: string;
  cleanup?: string;
  prereqs: ResolvedPrereq[];
  /**
   * Placeholder names left in command, cleanup or prereqs (directly or through an argument's
   * default) because no argument has that name, or because defaults refer to each other in a
   * cycle. The caller decides whether to run such a test.
   */
  unresolved: string[];
}

const PLACEHOLDER = /#\{([^{}]+)\}/g;
const ATOMICS_FOLDER = /\$?PathToAtomicsFolder/gi;

/** Substitutes `test` with its defaults, `overrides` taking precedence (names case-insensitive). */
export function resolveTest(
  test: AtomicTest,
  o: { atomicsDir: string; overrides?: Readonly<Record<string, string>> },
): ResolvedTest {
  const raw = new Map<string, { name: string; value: string }>();
  for (const [name, arg] of Object.entries(test.inputArguments)) {
    raw.set(name.toLowerCase(), { name, value: arg.default });
  }
  for (const [name, value] of Object.entries(o.overrides ?? {})) {
    const known = raw.get(name.toLowerCase());
    raw.set(name.toLowerCase(), { name: known?.name ?? name, value });
  }

  const done = new Map<string, { value: string; unresolved: string[] }>();
  const folder = (s: string) => s.replace(ATOMICS_FOLDER, () => o.atomicsDir);

  /** Substitutes `s`; `stack` holds the arguments being resolved, to stop at a cycle. */
  const substitute = (s: string, stack: readonly string[], unresolved: Set<string>): string =>
    folder(
      s.replace(PLACEHOLDER, (whole, name: string) => {
        const key = name.toLowerCase();
        if (!raw.has(key) || stack.includes(key)) {
          unresolved.add(name);
          return whole;
        }
        const r = argument(key, stack);
        for (const u of r.unresolved) unresolved.add(u);
        return r.value;
      }),
    );

  const argument = (key: string, stack: readonly string[]) => {
    const cached = done.get(key);
    if (cached) return cached;
    const unresolved = new Set<string>();
    const value = substitute(raw.get(key)?.value ?? "", [...stack, key], unresolved);
    const r = { value, unresolved: [...unresolved] };
    // A value cut short by a cycle depends on where the cycle was entered: do not reuse it.
    if (unresolved.size === 0) done.set(key, r);
    return r;
  };

  const unresolved = new Set<string>();
  const text = (s: string) => substitute(s, [], unresolved);
  const command = text(test.executor.command);
  const cleanup =
    test.executor.cleanupCommand === undefined ? undefined : text(test.executor.cleanupCommand);
  const prereqs = test.dependencies.map((d) => ({
    description: d.description,
    check: text(d.prereqCommand),
    get: text(d.getPrereqCommand),
  }));
  const args: Record<string, string> = {};
  for (const [key, { name }] of raw) args[name] = argument(key, []).value;
  return {
    test,
    atomicsDir: o.atomicsDir,
    args,
    command,
    ...(cleanup === undefined ? {} : { cleanup }),
    prereqs,
    unresolved: [...unresolved],
  };
}
