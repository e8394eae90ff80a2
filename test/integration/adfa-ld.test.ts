/**
 * A short ADFA-LD run in CI: a seeded subset of the real dataset, both count families, each
 * AUC above a floor well below the full-data results (0.84 / 0.87), and the --json output of
 * the real CLI.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { ErrorCodes, isVigilError } from "../../src/errors.js";
import { loadAdfaLd } from "../../training/adfa-ld.js";
import { evaluateAdfaLd } from "../../training/evaluate.js";
import { createKnnFamily } from "../../training/families/knn.js";
import { createNgramLmFamily } from "../../training/families/ngram-lm.js";

const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const DATASET = join(REPO, "..", "shared", "datasets", "adfa-ld");
const TSX = import.meta.resolve("tsx");
const LIMIT = { train: 200, validation: 600, attack: 120 };
const AUC_FLOOR = 0.75;

describe("ADFA-LD subset", {
  skip: existsSync(DATASET) ? false : `no dataset at ${DATASET}`,
}, () => {
  const out = mkdtempSync(join(tmpdir(), "vigil-eval-"));
  after(() => rmSync(out, { recursive: true, force: true }));

  test("adfa-ld - loader maps numbers to names, subsets deterministically", () => {
    const a = loadAdfaLd(DATASET, { limit: LIMIT, seed: 7 });
    const b = loadAdfaLd(DATASET, { limit: LIMIT, seed: 7 });
    assert.deepEqual(a, b);
    assert.equal(a.train.length, LIMIT.train);
    assert.equal(a.validation.length, LIMIT.validation);
    assert.equal(a.attack.length, LIMIT.attack);
    const families = new Set(a.attack.map((x) => x.family));
    assert.deepEqual([...families].sort(), ["Adduser", "Hydra_FTP", "Java_Meterpreter"]);
    const names = new Set(a.train.flat());
    assert.ok(names.has("read") && names.has("mmap2"), "i386 numbers 3 and 192 become names");
    assert.ok(![...names].some((n) => /^\d+$/.test(n)));
  });

  test("adfa-ld - both count families clear the AUC floor on a subset", async () => {
    const data = loadAdfaLd(DATASET, { limit: LIMIT, seed: 0 });
    const r = await evaluateAdfaLd([createNgramLmFamily(), createKnnFamily()], data, { seed: 0 });
    for (const name of ["ngram-lm", "knn"]) {
      const f = r.families[name];
      assert.ok(f, name);
      assert.ok(f.auc >= AUC_FLOOR, `${name} AUC ${f.auc} < ${AUC_FLOOR}`);
      assert.ok(f.far_at_dr90 >= 0 && f.far_at_dr90 <= 1);
      assert.ok((r.roc[name]?.length ?? 0) >= 2);
    }
    assert.deepEqual(r.counts.attack, LIMIT.attack);
  });

  test("adfa-ld - vigil eval --json prints families and best, and writes the report", async () => {
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [
        "--import",
        TSX,
        join(REPO, "src", "cli", "main.ts"),
        "eval",
        "adfa-ld",
        "--path",
        DATASET,
        "--json",
        "--families",
        "ngram-lm,knn",
        "--limit",
        `${LIMIT.train},${LIMIT.validation},${LIMIT.attack}`,
        "--out",
        out,
      ],
      { cwd: REPO, timeout: 60_000 },
    );
    const parsed = JSON.parse(stdout) as {
      families: Record<string, { auc: number; far_at_dr90: number }>;
      best: string;
    };
    assert.deepEqual(Object.keys(parsed).sort(), ["best", "families"]);
    assert.deepEqual(Object.keys(parsed.families).sort(), ["knn", "ngram-lm"]);
    for (const f of Object.values(parsed.families)) {
      assert.deepEqual(Object.keys(f).sort(), ["auc", "far_at_dr90"]);
      assert.ok(f.auc >= AUC_FLOOR);
    }
    assert.ok(parsed.best in parsed.families);
    assert.match(readFileSync(join(out, "report.md"), "utf8"), /## Tuning/);
    assert.match(readFileSync(join(out, "roc.svg"), "utf8"), /<polyline/);
  });

  test("adfa-ld - a folder without the layout is a USAGE error with a hint", () => {
    assert.throws(
      () => loadAdfaLd(join(out, "missing")),
      (e: unknown) =>
        isVigilError(e, ErrorCodes.USAGE) && (e.hint ?? "").includes("Training_Data_Master"),
    );
  });
});
