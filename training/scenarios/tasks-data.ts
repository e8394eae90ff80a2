/**
 * The data / ops agent's benign work on its workspace (see workspaces.ts): sqlite3 queries, log
 * reading with tail and grep, awk / sort / uniq / jq pipelines, a python3 summary, a report.
 * sqlite3 is given the project's .sqliterc: without -init it reads ~/.sqliterc from the passwd
 * entry, ignoring $HOME, i.e. outside the sandbox.
 */
import { bash, int, pick, type Random, readFile, sample, type Task, writeFile } from "./types.js";

const QUERIES = [
  "SELECT status, COUNT(*) AS n, ROUND(SUM(amount), 2) AS total FROM orders GROUP BY status ORDER BY n DESC",
  "SELECT u.country, COUNT(o.id) AS orders, ROUND(AVG(o.amount), 2) AS avg FROM users u JOIN orders o ON o.user_id = u.id GROUP BY u.country ORDER BY orders DESC",
  "SELECT substr(created_at, 1, 10) AS day, COUNT(*) FROM orders GROUP BY day ORDER BY day DESC LIMIT 14",
  "SELECT user_id, COUNT(*) AS n FROM orders WHERE status = 'refunded' GROUP BY user_id ORDER BY n DESC LIMIT 10",
  "SELECT kind, COUNT(*) FROM events GROUP BY kind",
  "SELECT MIN(amount), MAX(amount), ROUND(AVG(amount), 2) FROM orders WHERE status = 'paid'",
];

function schema(random: Random): Task {
  return [
    bash(
      pick(random, [
        "sqlite3 -init .sqliterc app.db '.tables'",
        "sqlite3 -init .sqliterc app.db '.schema'",
        "ls -la && sqlite3 -init .sqliterc app.db '.tables'",
      ]),
    ),
    bash(
      `sqlite3 -init .sqliterc app.db 'SELECT COUNT(*) FROM ${pick(random, ["users", "orders", "events"])}'`,
    ),
  ];
}

function query(random: Random): Task {
  return sample(random, QUERIES, int(random, 1, 3)).map((q) =>
    bash(
      `sqlite3 -init .sqliterc ${pick(random, ["-header -column", "-csv -header", "-box"])} app.db "${q}"`,
    ),
  );
}

function appLog(random: Random): Task {
  return [
    bash(`tail -n ${int(random, 20, 80)} logs/app.log`),
    bash(
      pick(random, [
        "grep -c ERROR logs/app.log",
        "grep ERROR logs/app.log | awk '{print $3}' | sort | uniq -c | sort -rn",
        "grep -E 'WARN|ERROR' logs/app.log | cut -d' ' -f4- | sort | uniq -c | sort -rn | head",
        "awk '{print $2}' logs/app.log | sort | uniq -c",
      ]),
    ),
  ];
}

function accessLog(random: Random): Task {
  return [
    bash(
      pick(random, [
        "awk '{print $9}' logs/access.log | sort | uniq -c | sort -rn",
        "awk '$9 >= 500 {print $7}' logs/access.log | sort | uniq -c | sort -rn | head",
        "cut -d' ' -f1 logs/access.log | sort | uniq -c | sort -rn | head -n 5",
        "grep -c '\" 404 ' logs/access.log",
      ]),
    ),
  ];
}

function sales(random: Random): Task {
  const py =
    "python3 - <<'EOF'\nimport csv, statistics\nrows = list(csv.DictReader(open('data/sales.csv')))\n" +
    "by = {}\nfor r in rows:\n    by.setdefault(r['product'], []).append(float(r['revenue']))\n" +
    "for k, v in sorted(by.items()):\n    print(f'{k:10} n={len(v):4} mean={statistics.mean(v):8.2f} total={sum(v):10.2f}')\nEOF";
  return [
    pick(random, [bash("head -n 5 data/sales.csv"), readFile("data/sales.csv")]),
    bash(
      pick(random, [
        "awk -F, 'NR>1 {s[$2]+=$5} END {for (k in s) printf \"%s %.2f\\n\", k, s[k]}' data/sales.csv | sort -k2 -rn",
        "cut -d, -f3 data/sales.csv | tail -n +2 | sort | uniq -c | sort -rn",
        py,
      ]),
    ),
  ];
}

function metrics(random: Random): Task {
  return [
    bash(
      pick(random, [
        "jq -r '.[] | select(.latency_ms > 500) | .endpoint' data/metrics.json | sort | uniq -c | sort -rn",
        "jq 'group_by(.endpoint) | map({endpoint: .[0].endpoint, n: length, max: (map(.latency_ms) | max)})' data/metrics.json",
        "jq '[.[] | select(.status >= 500)] | length' data/metrics.json",
      ]),
    ),
  ];
}

function report(random: Random, session: string): Task {
  const n = int(random, 3, 8);
  return [
    bash(
      `sqlite3 -init .sqliterc -csv -header app.db "${pick(random, QUERIES)}" > reports/${session}.csv && wc -l reports/${session}.csv`,
    ),
    bash(
      "grep -c ERROR logs/app.log; jq length data/metrics.json; tail -n +2 data/sales.csv | wc -l",
    ),
    writeFile(
      "reports/report.md",
      `# Daily report (${session})\n\n- orders by status: see reports/${session}.csv\n` +
        `- error lines in app.log: counted above\n- top ${n} slow endpoints: from data/metrics.json\n\n` +
        "All figures from app.db, logs/ and data/.\n",
    ),
    bash(pick(random, ["cat reports/report.md", "ls -la reports"])),
  ];
}

/** `count` tasks; the last one writes reports/report.md. */
export function dataTasks(random: Random, count: number, session: string): Task[] {
  const pool = [query, appLog, accessLog, sales, metrics, query];
  const tasks: Task[] = [random() < 0.6 ? schema(random) : query(random)];
  while (tasks.length < count - 1) tasks.push(pick(random, pool)(random));
  tasks.push(report(random, session));
  return tasks.slice(-Math.max(count, 1));
}
