import assert from "node:assert/strict";
import { existsSync, mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ErrorCodes, isVigilError } from "../../src/errors.js";
import { type AtomicTest, loadAtomics } from "../../training/atomics/library.js";
import { resolveTest } from "../../training/atomics/resolve.js";
import { ATTACK_TACTICS, alertGroup, TACTICS, tacticsOf } from "../../training/atomics/tactics.js";
import { tempDir } from "../helpers/temp-dir.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const DATASET = join(REPO, "..", "shared", "datasets", "atomic-red-team");

const SIMPLE = `attack_technique: T9001
display_name: "Fixture: Simple"
atomic_tests:
- name: First
  auto_generated_guid: 11111111-1111-1111-1111-111111111111
  description: the first test
  supported_platforms: [Linux, macos]
  input_arguments:
    mode:
      description: file mode
      type: String
      default: 0755
    empty:
      description: no default
      type: string
  dependency_executor_name: Bash
  dependencies:
  - description: needs a file
    prereq_command: test -f /tmp/x
    get_prereq_command: touch /tmp/x
  executor:
    name: "sh "
    elevation_required: true
    command: "chmod #{mode} /tmp/x"
    cleanup_command: rm -f /tmp/x
- name: Manual one
  supported_platforms: [linux]
  executor:
    name: manual
    steps: do it by hand
`;

/** A checkout root with technique folders, an Indexes folder and two broken files. */
function fixtureLibrary(): string {
  const root = tempDir("vigil-atomics-lib-");
  const put = (rel: string, text: string) => {
    mkdirSync(dirname(join(root, "atomics", rel)), { recursive: true });
    writeFileSync(join(root, "atomics", rel), text);
  };
  put("T9001/T9001.yaml", SIMPLE);
  const one = (id: string) =>
    `attack_technique: ${id}\natomic_tests:\n- name: ${id} test\n  supported_platforms: [linux]\n  executor: {name: bash, command: echo ${id}}\n`;
  put("T9001.001/T9001.001.yaml", one("T9001.001"));
  put("T9001.002/T9001.002.yaml", one("T9001.002"));
  put("T9002/T9002.yaml", one("T9002"));
  put("T9003/T9003.yaml", "attack_technique: T9003\natomic_tests: [\n  - name: broken\n");
  put(
    "T9004/T9004.yaml",
    "attack_technique: T9004\natomic_tests:\n- name: no executor\n- name: fine\n  executor: {name: sh, command: id}\n",
  );
  put("Indexes/T9999/T9999.yaml", one("T9999"));
  put("Indexes/index.yaml", "T9001: {}\n");
  put("T9002/src/payload.sh", "echo payload\n");
  return root;
}

/** A test built in memory, for the substitution rules. */
function fake(args: Record<string, string>, command: string, cleanup?: string): AtomicTest {
  const inputArguments: AtomicTest["inputArguments"] = {};
  for (const [name, value] of Object.entries(args)) {
    inputArguments[name] = { description: "", type: "string", default: value };
  }
  return {
    technique: "T9001",
    techniqueName: "Fixture",
    number: 1,
    name: "fake",
    guid: "",
    description: "",
    platforms: ["linux"],
    inputArguments,
    dependencies: [{ description: "", prereqCommand: "test -e #{FILE}", getPrereqCommand: "" }],
    executor: {
      name: "sh",
      command,
      ...(cleanup === undefined ? {} : { cleanupCommand: cleanup }),
      elevationRequired: false,
    },
    file: "/nowhere/T9001.yaml",
  };
}

describe("atomics library", () => {
  test("atomics - a checkout root and its atomics folder load the same library", () => {
    const root = fixtureLibrary();
    const a = loadAtomics(root);
    const b = loadAtomics(join(root, "atomics"));
    assert.equal(a.atomicsDir, join(root, "atomics"));
    assert.deepEqual(a, b);
  });

  test("atomics - reads only <ID>/<ID>.yaml, never Indexes/", () => {
    const lib = loadAtomics(fixtureLibrary());
    const ids = [...new Set(lib.tests.map((t) => t.technique))];
    assert.deepEqual(ids, ["T9001", "T9001.001", "T9001.002", "T9002", "T9004"]);
  });

  test("atomics - a malformed file and a test without executor are reported, the rest load", () => {
    const lib = loadAtomics(fixtureLibrary());
    assert.equal(lib.errors.length, 2);
    assert.match(lib.errors[0]?.file ?? "", /T9003\.yaml$/);
    assert.match(lib.errors[0]?.message ?? "", /^cannot parse/);
    assert.match(lib.errors[1]?.file ?? "", /T9004\.yaml$/);
    assert.equal(lib.errors[1]?.message, "test 1: missing executor.name");
    const kept = lib.tests.filter((t) => t.technique === "T9004");
    assert.deepEqual(
      kept.map((t) => [t.number, t.name]),
      [[2, "fine"]],
      "numbers stay positions in atomic_tests",
    );
  });

  test("atomics - fields read as written: defaults as text, names lower-cased", () => {
    const lib = loadAtomics(fixtureLibrary(), { techniques: ["T9001.001", "T9001"] });
    const [first, manual] = lib.tests.filter((t) => t.technique === "T9001");
    assert.ok(first && manual);
    assert.equal(first.techniqueName, "Fixture: Simple");
    assert.equal(first.guid, "11111111-1111-1111-1111-111111111111");
    assert.deepEqual(first.platforms, ["linux", "macos"]);
    assert.deepEqual(first.inputArguments.mode, {
      description: "file mode",
      type: "string",
      default: "0755",
    });
    assert.equal(first.inputArguments.empty?.default, "");
    assert.equal(first.dependencyExecutor, "bash");
    assert.deepEqual(first.dependencies, [
      {
        description: "needs a file",
        prereqCommand: "test -f /tmp/x",
        getPrereqCommand: "touch /tmp/x",
      },
    ]);
    assert.deepEqual(first.executor, {
      name: "sh",
      command: "chmod #{mode} /tmp/x",
      cleanupCommand: "rm -f /tmp/x",
      elevationRequired: true,
    });
    assert.deepEqual(manual.executor, { name: "manual", command: "", elevationRequired: false });
    assert.equal(manual.number, 2);
  });

  test("atomics - technique filter: a parent selects its sub-techniques, a sub-technique itself", () => {
    const root = fixtureLibrary();
    const ids = (f: string[]) => loadAtomics(root, { techniques: f }).tests.map((t) => t.technique);
    assert.deepEqual(ids(["T9001"]), ["T9001", "T9001", "T9001.001", "T9001.002"]);
    assert.deepEqual(ids(["t9001.002"]), ["T9001.002"]);
    assert.deepEqual(ids(["T9002", "T9001.001"]), ["T9001.001", "T9002"]);
  });

  test("atomics - unknown techniques in the filter are a usage error naming them", () => {
    const root = fixtureLibrary();
    assert.throws(
      () => loadAtomics(root, { techniques: ["T9001", "T1234", "T9002.009"] }),
      (e: unknown) =>
        isVigilError(e, ErrorCodes.USAGE) &&
        e.message.includes("T1234, T9002.009") &&
        !e.message.includes("T9001") &&
        e.hint !== undefined,
    );
    assert.throws(
      () => loadAtomics(tempDir("vigil-atomics-none-")),
      (e: unknown) => isVigilError(e, ErrorCodes.USAGE),
    );
  });
});

describe("atomics substitution", () => {
  const dir = "/opt/art/atomics";

  test("atomics - resolves nested defaults", () => {
    const t = fake({ base: "/tmp/art", sub: "#{base}/sub", file: "#{sub}/x.txt" }, "touch #{file}");
    const r = resolveTest(t, { atomicsDir: dir });
    assert.equal(r.command, "touch /tmp/art/sub/x.txt");
    assert.equal(r.args.file, "/tmp/art/sub/x.txt");
    assert.deepEqual(r.prereqs, [
      { description: "", check: "test -e /tmp/art/sub/x.txt", get: "" },
    ]);
    assert.deepEqual(r.unresolved, []);
  });

  test("atomics - argument names match case-insensitively, overrides win", () => {
    const t = fake(
      { Output_File: "/tmp/a", mode: "600" },
      "chmod #{MODE} #{output_file}",
      "rm #{OUTPUT_FILE}",
    );
    const r = resolveTest(t, { atomicsDir: dir, overrides: { output_FILE: "/tmp/b" } });
    assert.equal(r.command, "chmod 600 /tmp/b");
    assert.equal(r.cleanup, "rm /tmp/b");
    assert.deepEqual(r.args, { Output_File: "/tmp/b", mode: "600" });
  });

  test("atomics - a placeholder with no argument is listed, not silently kept", () => {
    const t = fake({ a: "#{missing}/x" }, "cat #{a} #{other}; echo #{a}");
    const r = resolveTest(t, { atomicsDir: dir });
    assert.deepEqual(r.unresolved, ["missing", "other", "FILE"]);
    assert.equal(r.command, "cat #{missing}/x #{other}; echo #{missing}/x");
  });

  test("atomics - defaults that refer to each other stop at the cycle", () => {
    const t = fake({ a: "#{b}-a", b: "#{a}-b" }, "echo #{a} #{FILE}");
    const r = resolveTest(t, { atomicsDir: dir, overrides: { file: "f" } });
    assert.equal(r.command, "echo #{a}-b-a f");
    assert.deepEqual(r.unresolved, ["a"]);
  });

  test("atomics - PathToAtomicsFolder and $PathToAtomicsFolder become the atomics folder", () => {
    const t = fake(
      { src: "PathToAtomicsFolder/T9001/src/x.c" },
      'gcc #{src} -o "$PathToAtomicsFolder/T9001/bin/x" && pathtoatomicsfolder/y',
    );
    const r = resolveTest(t, { atomicsDir: dir });
    assert.equal(r.args.src, "/opt/art/atomics/T9001/src/x.c");
    assert.equal(
      r.command,
      'gcc /opt/art/atomics/T9001/src/x.c -o "/opt/art/atomics/T9001/bin/x" && /opt/art/atomics/y',
    );
  });
});

describe("atomics dataset", {
  skip: existsSync(DATASET) ? false : `no dataset at ${DATASET}`,
}, () => {
  test("atomics - loads the 66 techniques of the dataset without errors", () => {
    const lib = loadAtomics(DATASET);
    assert.deepEqual(lib.errors, []);
    assert.equal(new Set(lib.tests.map((t) => t.technique)).size, 66);
    assert.equal(lib.tests.length, 523);
    const linuxShell = lib.tests.filter(
      (t) => t.platforms.includes("linux") && ["sh", "bash"].includes(t.executor.name),
    );
    assert.equal(linuxShell.length, 209);
    assert.equal(linuxShell.filter((t) => !t.executor.elevationRequired).length, 120);
  });

  test("atomics - a dataset test reads and resolves to its known values", () => {
    const lib = loadAtomics(DATASET, { techniques: ["T1552"] });
    assert.equal(new Set(lib.tests.map((t) => t.technique)).size, 3);
    const keys = lib.tests.find((t) => t.technique === "T1552.004" && t.number === 2);
    assert.ok(keys);
    assert.equal(keys.name, "Discover Private SSH Keys");
    assert.equal(keys.guid, "46959285-906d-40fa-9437-5a439accd878");
    const r = resolveTest(keys, { atomicsDir: lib.atomicsDir });
    assert.equal(
      r.command,
      "find / -name id_rsa 2>/dev/null >> /tmp/keyfile_locations.txt\nexit 0\n",
    );
    assert.equal(r.cleanup, "rm /tmp/keyfile_locations.txt\n");

    const c = loadAtomics(DATASET, { techniques: ["T1027.004"] }).tests.find((t) => t.number === 3);
    assert.ok(c);
    const rc = resolveTest(c, { atomicsDir: lib.atomicsDir });
    assert.equal(rc.args.input_file, join(lib.atomicsDir, "T1027.004", "src", "T1027-004-test.c"));
    assert.ok(existsSync(rc.args.input_file ?? ""));
  });

  test("atomics - no dataset test leaves a placeholder unresolved", () => {
    const lib = loadAtomics(DATASET);
    const left = lib.tests.filter(
      (t) => resolveTest(t, { atomicsDir: lib.atomicsDir }).unresolved.length,
    );
    assert.deepEqual(left, []);
  });
});

describe("atomics tactics", () => {
  test("atomics - sub-techniques inherit their parent's tactics; unknown IDs have none", () => {
    assert.deepEqual(tacticsOf("T1552.004"), ["credential-access"]);
    assert.deepEqual(tacticsOf("t1053.003"), ["execution", "persistence", "privilege-escalation"]);
    assert.deepEqual(tacticsOf("T1685.006"), ["defense-impairment"]);
    assert.deepEqual(tacticsOf("T1689"), ["defense-impairment"]);
    assert.deepEqual(tacticsOf("T1690"), ["defense-impairment"]);
    assert.deepEqual(tacticsOf("T0000"), []);
    assert.deepEqual(tacticsOf("nonsense"), []);
  });

  test("atomics - the table covers ATT&CK Enterprise with known tactic names only", () => {
    assert.ok(ATTACK_TACTICS.size >= 220, `${ATTACK_TACTICS.size} techniques`);
    const known = new Set<string>(TACTICS);
    for (const [id, tactics] of ATTACK_TACTICS) {
      assert.match(id, /^T1\d{3}$/);
      assert.ok(tactics.length > 0 && tactics.every((t) => known.has(t)), id);
    }
    for (const id of ["T1001", "T1059", "T1078", "T1110", "T1190", "T1595", "T1583", "T1681"]) {
      assert.ok(ATTACK_TACTICS.has(id), id);
    }
  });

  test("atomics - alert groups: expected, discovery-only informational, the rest other", () => {
    assert.equal(alertGroup(tacticsOf("T1003")), "expected");
    assert.equal(alertGroup(tacticsOf("T1685")), "expected");
    assert.equal(alertGroup(["discovery", "credential-access"]), "expected");
    assert.equal(alertGroup(tacticsOf("T1082")), "informational");
    assert.equal(alertGroup(tacticsOf("T1021")), "other");
    assert.equal(alertGroup(tacticsOf("T1595")), "other");
    assert.equal(alertGroup(["initial-access", "lateral-movement"]), "other");
    assert.equal(alertGroup([]), "other");
  });

  test("atomics - every technique of the dataset has tactics", {
    skip: existsSync(DATASET) ? false : `no dataset at ${DATASET}`,
  }, () => {
    const ids = readdirSync(join(DATASET, "atomics")).filter((d) => /^T\d{4}/.test(d));
    assert.equal(ids.length, 66);
    assert.deepEqual(
      ids.filter((id) => tacticsOf(id).length === 0),
      [],
    );
    const groups: Record<string, number> = {};
    for (const id of ids) {
      const g = alertGroup(tacticsOf(id));
      groups[g] = (groups[g] ?? 0) + 1;
    }
    assert.deepEqual(groups, { expected: 57, informational: 8, other: 1 });
  });
});
