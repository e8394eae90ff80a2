/**
 * Operator-supplied regular expressions (rules' argv, privacy extraPatterns, and the regexes Vigil
 * builds from operators' globs) run on every exec or open on the host. A backtracking engine
 * lets one careless pattern, such as `(a+)+$`, stall the sensor on a crafted argv. These run on
 * re2js, a port of RE2: matching time is linear in the input whatever the pattern. The price is
 * RE2's syntax: no backreferences and no lookaround. This is the only module that imports re2js.
 */
import { RE2JS, RE2JSException } from "re2js";
import { ErrorCodes, VigilError } from "../errors.js";

/** A compiled pattern whose matching time is linear in the input. */
export interface LinearRegExp {
  readonly source: string;
  /** Whether the pattern matches anywhere in `text` (an unanchored search, like RegExp#test). */
  test(text: string): boolean;
  /**
   * `text` with every non-empty match, left to right and non-overlapping, replaced by
   * `replace(match, keep)`, where `keep` is the text of the named group "keep" if the pattern has
   * one and it took part. Empty matches are left alone.
   */
  replaceAll(text: string, replace: (match: string, keep: string | undefined) => string): string;
}

/** What an operator should do about a pattern RE2 refuses, keyed on what it refused. */
function fixFor(error: string, input: string): string {
  if (input.startsWith("(?=") || input.startsWith("(?!"))
    return "lookahead ((?= and (?!) is not supported: match the text itself, or drop the condition";
  if (input.startsWith("(?<=") || input.startsWith("(?<!"))
    return "lookbehind ((?<= and (?<!) is not supported: include the preceding text in the match, or keep it with a group named keep";
  if (/^\\[1-9k]/.test(input))
    return "backreferences (\\1, \\k<name>) are not supported: spell the repeated text out";
  if (input.startsWith("\\u")) return "write \\x{00e9} instead of \\u00e9";
  if (error.includes("repeat count")) return "a counted repeat {n,m} may be at most 1000";
  return "use RE2 syntax (JavaScript's, without backreferences or lookaround; (?i) for case-insensitive)";
}

interface Problem {
  readonly refused: string;
  readonly fix: string;
}

function problemOf(source: string): Problem | undefined {
  try {
    RE2JS.compile(source);
    return undefined;
  } catch (e) {
    if (!(e instanceof RE2JSException)) throw e;
    const error = (e as { error?: string }).error ?? e.message;
    const input = (e as { input?: string | null }).input ?? "";
    const where = input === "" ? "" : ` at ${JSON.stringify(input)}`;
    return { refused: `${error}${where}`, fix: fixFor(error, input) };
  }
}

/** Why `source` cannot be compiled, with the fix; undefined if it can. */
export function linearRegExpProblem(source: string): string | undefined {
  const p = problemOf(source);
  return p && `not a linear-time (RE2) regular expression: ${p.refused}; ${p.fix}`;
}

/**
 * Compiles `source`; throws VigilError(CONFIG_INVALID) naming `what` (the config key, e.g.
 * "sensor.privacy.extraPatterns[0]") and the fix. `dotAll` lets "." match newlines.
 */
export function compileLinearRegExp(
  source: string,
  what: string,
  options: { dotAll?: boolean } = {},
): LinearRegExp {
  const p = problemOf(source);
  if (p !== undefined) {
    throw new VigilError(
      ErrorCodes.CONFIG_INVALID,
      `${what}: ${JSON.stringify(source)} is not a linear-time (RE2) regular expression: ${p.refused}`,
      { hint: `rewrite ${JSON.stringify(source)} in ${what}: ${p.fix}` },
    );
  }
  const re = RE2JS.compile(source, options.dotAll === true ? RE2JS.DOTALL : 0);
  const hasKeep = Object.hasOwn(re.namedGroups(), "keep");
  return {
    source,
    test: (text) => re.test(text),
    replaceAll(text, replace) {
      const m = re.matcher(text);
      let out = "";
      let copied = 0;
      while (m.find()) {
        const start = m.start();
        const end = m.end();
        if (start === end) continue;
        const keep = hasKeep ? (m.group("keep") ?? undefined) : undefined;
        out += text.slice(copied, start) + replace(text.slice(start, end), keep);
        copied = end;
      }
      return copied === 0 ? text : out + text.slice(copied);
    },
  };
}
