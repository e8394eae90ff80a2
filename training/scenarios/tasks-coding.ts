/**
 * The coding agent's benign work in its fixture repository (see workspaces.ts): explore, grep,
 * edit with write_file and sed, run the node and python tests, git status / diff / commit.
 */
import { bash, int, pick, type Random, readFile, sample, type Task, writeFile } from "./types.js";

const JS_FILES = ["src/math.js", "src/strings.js", "src/cart.js", "src/config.js"];
const PY_FILES = ["pyutils/stats.py", "pyutils/text.py"];
const NODE_TEST = [
  "node --test",
  "node --test 2>&1 | tail -n 20",
  "node --test test/ 2>&1 | tail -n 15",
];
const PY_TEST = [
  "python3 -m unittest discover -s tests -t . -q",
  "python3 -m unittest -v 2>&1 | tail -n 12",
  "python3 -m unittest discover -s tests -t .",
];

/** Helpers the agent "writes": name, body, one test (args -> expected). */
const JS_HELPERS = [
  [
    "chunk",
    "(xs, n) {\n  const out = [];\n  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));\n  return out;\n}",
    "chunk([1, 2, 3], 2)",
    "[[1, 2], [3]]",
  ],
  ["unique", "(xs) {\n  return [...new Set(xs)];\n}", "unique([1, 1, 2])", "[1, 2]"],
  ["range", "(n) {\n  return Array.from({ length: n }, (_, i) => i);\n}", "range(3)", "[0, 1, 2]"],
  ["zip", "(a, b) {\n  return a.map((x, i) => [x, b[i]]);\n}", "zip([1], [2])", "[[1, 2]]"],
  [
    "countBy",
    "(xs, f) {\n  const m = {};\n  for (const x of xs) m[f(x)] = (m[f(x)] ?? 0) + 1;\n  return m;\n}",
    "countBy([1, 2, 3], (x) => x % 2)",
    "{ 0: 1, 1: 2 }",
  ],
] as const;

const PY_HELPERS = [
  ["mode", "xs", "    return max(set(xs), key=xs.count) if xs else None", "[1, 2, 2]", "2"],
  ["spread", "xs", "    return max(xs) - min(xs) if xs else 0", "[3, 9, 4]", "6"],
  ["snake", "s", "    return '_'.join(s.lower().split())", "'Hello World'", "'hello_world'"],
  [
    "percent",
    "part, whole",
    "    return round(100.0 * part / whole, 1) if whole else 0.0",
    "1, 4",
    "25.0",
  ],
] as const;

function explore(random: Random): Task {
  const first = pick(random, [
    "ls -la && cat package.json",
    "find . -path ./.git -prune -o -type f -print | sort",
    "git log --oneline -n 10 && git status --short",
    "wc -l src/*.js pyutils/*.py | sort -n",
  ]);
  return [
    bash(first),
    ...sample(random, [...JS_FILES, ...PY_FILES, "README.md"], int(random, 1, 2)).map(readFile),
  ];
}

function grep(random: Random): Task {
  const pattern = pick(random, ["export function", "TODO", "MAX_ITEMS", "def ", "import "]);
  const cmd = pick(random, [
    `grep -rn "${pattern}" --include=*.js --include=*.py . | head -n 30`,
    `git grep -n "${pattern}" || true`,
    `grep -rln "${pattern}" src pyutils test tests 2>/dev/null | sort`,
  ]);
  return [bash(cmd)];
}

function addJsHelper(random: Random, session: string): Task {
  const [name, body, call, expected] = pick(random, JS_HELPERS);
  const file = `src/${name.toLowerCase()}.js`;
  const code = `/** Added in session ${session}. */\nexport function ${name}${body}\n`;
  const test =
    'import assert from "node:assert/strict";\nimport { test } from "node:test";\n' +
    `import { ${name} } from "../${file}";\n\ntest("${name}", () => assert.deepEqual(${call}, ${expected}));\n`;
  return [
    readFile(pick(random, JS_FILES)),
    writeFile(file, code),
    writeFile(`test/${name.toLowerCase()}.test.js`, test),
    bash(pick(random, NODE_TEST)),
    bash(`git add -A && git commit -q -m "Add ${name} helper" && git log --oneline -n 1`),
  ];
}

function addPyHelper(random: Random, session: string): Task {
  const [name, params, body, args, expected] = pick(random, PY_HELPERS);
  const code = `"""${name}: added in session ${session}."""\n\n\ndef ${name}(${params}):\n${body}\n`;
  const test =
    `import unittest\n\nfrom pyutils.${name} import ${name}\n\n\nclass ${name[0]?.toUpperCase()}${name.slice(1)}Test(unittest.TestCase):\n` +
    `    def test_${name}(self):\n        self.assertEqual(${name}(${args}), ${expected})\n`;
  return [
    readFile(pick(random, PY_FILES)),
    writeFile(`pyutils/${name}.py`, code),
    writeFile(`tests/test_${name}.py`, test),
    bash(pick(random, PY_TEST)),
    bash(
      `git add pyutils tests && git commit -q -m "Add ${name}()" && git show --stat HEAD | head -n 12`,
    ),
  ];
}

function sedEdit(random: Random): Task {
  const edit = pick(random, [
    [
      "src/config.js",
      `s/export const MAX_ITEMS = [0-9]*/export const MAX_ITEMS = ${int(random, 50, 500)}/`,
      "Tune MAX_ITEMS",
    ],
    [
      "src/config.js",
      `s/VERSION = "[0-9.]*"/VERSION = "1.${int(random, 1, 9)}.${int(random, 0, 20)}"/`,
      "Bump version",
    ],
    ["src/cart.js", "s|// TODO: discounts|// TODO: discounts (see issue tracker)|", "Clarify TODO"],
    ["pyutils/text.py", 's/"""Text helpers."""/"""Text helpers for reports."""/', "Docstring"],
  ] as const);
  const [file, expr, msg] = edit;
  const test = file.endsWith(".py") ? pick(random, PY_TEST) : pick(random, NODE_TEST);
  return [
    bash(`sed -i '${expr}' ${file} && git diff --stat`),
    bash(pick(random, ["git diff", `git diff -- ${file}`, "git diff --word-diff | head -n 40"])),
    bash(test),
    bash(`git commit -qam "${msg}" || git status --short`),
  ];
}

function review(random: Random): Task {
  return [
    bash(
      pick(random, [
        "git status --short && git diff --stat",
        "git log --stat -n 3 | head -n 40",
        "git diff HEAD~1 --stat 2>/dev/null || git status",
      ]),
    ),
  ];
}

function runTests(random: Random): Task {
  return random() < 0.5 ? [bash(pick(random, NODE_TEST))] : [bash(pick(random, PY_TEST))];
}

/** `count` tasks; at least one ends in a commit of new code. */
export function codingTasks(random: Random, count: number, session: string): Task[] {
  const committing = [addJsHelper, addPyHelper];
  const others = [explore, grep, sedEdit, review, runTests, explore];
  const tasks: Task[] = [];
  const commitAt = int(random, 0, count - 1);
  for (let i = 0; i < count; i++) {
    if (i === commitAt) tasks.push(pick(random, committing)(random, session));
    else if (i === 0) tasks.push(explore(random));
    else tasks.push(pick(random, others)(random));
  }
  return tasks;
}
