/**
 * Which Atomic Red Team tests an evaluation runs, and why each other Linux test does not: every
 * test of the selected techniques is resolved and classified, and the report lists the ones not
 * run with their reason, never silently.
 */
import { ErrorCodes, VigilError } from "../../src/errors.js";
import { classifyTest, type NotRunKind } from "./containment.js";
import { type AtomicTest, loadAtomics } from "./library.js";
import { type ResolvedTest, resolveTest } from "./resolve.js";
import { alertGroup, tacticsOf } from "./tactics.js";

export interface PlannedTest {
  /** `<technique>-<number>`, e.g. T1552.004-3. */
  id: string;
  technique: string;
  techniqueName: string;
  number: number;
  name: string;
  guid: string;
  tactics: string[];
  group: "expected" | "informational" | "other";
  executor: string;
}

export interface RunnableTest extends PlannedTest {
  resolved: ResolvedTest;
}

export interface NotRunTest extends PlannedTest {
  kind: NotRunKind | "unresolved";
  reason: string;
}

export interface TestPlan {
  atomicsDir: string;
  runnable: RunnableTest[];
  notRun: NotRunTest[];
  /** YAML files that could not be read. */
  errors: { file: string; message: string }[];
  /** Tests of the techniques that do not support Linux (not counted anywhere else). */
  otherPlatforms: number;
}

/**
 * The library as a user's checkout holds it, in their HOME: tests write into their own folder,
 * which the sandbox copies for each run, so writes there are not to system paths.
 */
const SANDBOX_ATOMICS = "/home/user/atomic-red-team/atomics";

export const testId = (t: Pick<AtomicTest, "technique" | "number">) => `${t.technique}-${t.number}`;

function describe(t: AtomicTest): PlannedTest {
  const tactics = tacticsOf(t.technique);
  return {
    id: testId(t),
    technique: t.technique,
    techniqueName: t.techniqueName,
    number: t.number,
    name: t.name,
    guid: t.guid,
    tactics,
    group: alertGroup(tactics),
    executor: t.executor.name,
  };
}

/**
 * Loads `atomics` (the library's folder or a checkout of it) and plans its Linux tests: those
 * of `techniques` (all when empty), and of those only the `tests` named (ids or GUIDs) when given.
 */
export function planTests(
  atomics: string,
  o: { techniques?: readonly string[]; tests?: readonly string[] } = {},
): TestPlan {
  const lib = loadAtomics(atomics, o.techniques?.length ? { techniques: o.techniques } : {});
  const wanted = o.tests?.length ? new Set(o.tests) : undefined;
  const plan: TestPlan = {
    atomicsDir: lib.atomicsDir,
    runnable: [],
    notRun: [],
    errors: lib.errors,
    otherPlatforms: 0,
  };
  const seen = new Set<string>();
  for (const t of lib.tests) {
    if (wanted && !wanted.has(testId(t)) && !wanted.has(t.guid)) continue;
    seen.add(testId(t));
    seen.add(t.guid);
    if (!t.platforms.includes("linux")) {
      plan.otherPlatforms++;
      continue;
    }
    const resolved = resolveTest(t, { atomicsDir: lib.atomicsDir });
    // Judged where it will run: against the sandbox's copy of the library, so that a library
    // kept under /opt or /usr/share does not make its own folder a system path.
    const verdict = classifyTest(resolveTest(t, { atomicsDir: SANDBOX_ATOMICS }));
    if (!verdict.run) {
      plan.notRun.push({ ...describe(t), kind: verdict.kind, reason: verdict.reason });
    } else if (resolved.unresolved.length > 0) {
      plan.notRun.push({
        ...describe(t),
        kind: "unresolved",
        reason: `its commands name ${resolved.unresolved.map((u) => `#{${u}}`).join(", ")}, which no input argument defines`,
      });
    } else {
      plan.runnable.push({ ...describe(t), resolved });
    }
  }
  const missing = [...(wanted ?? [])].filter((id) => !seen.has(id));
  if (missing.length > 0) {
    throw new VigilError(ErrorCodes.USAGE, `no such test in ${atomics}: ${missing.join(", ")}`, {
      hint: "name tests as <technique>-<number> (T1552.004-3, the number as Invoke-AtomicTest's -TestNumbers) or by GUID",
    });
  }
  return plan;
}
