/**
 * ATT&CK Enterprise tactics of every parent technique (T1001..T16xx, as of the release that
 * split "defense-impairment" off defense evasion), so that an evaluation can say which alerts a
 * technique should raise. Sub-techniques inherit their parent's tactics. Data, not detection:
 * nothing here looks at what the sensor saw.
 */

/** Tactic short names as ATT&CK spells them, plus the newer "defense-impairment". */
export const TACTICS = [
  "reconnaissance",
  "resource-development",
  "initial-access",
  "execution",
  "persistence",
  "privilege-escalation",
  "defense-evasion",
  "defense-impairment",
  "credential-access",
  "discovery",
  "lateral-movement",
  "collection",
  "command-and-control",
  "exfiltration",
  "impact",
] as const;

export type Tactic = (typeof TACTICS)[number];

/** Techniques grouped by their (identical) tactic lists, tactics in ATT&CK's order. */
const GROUPS: [string, string][] = [
  ["reconnaissance", "T1589 T1590 T1591 T1592 T1593 T1594 T1595 T1596 T1597 T1598 T1681"],
  ["resource-development", "T1583 T1584 T1585 T1586 T1587 T1588 T1608 T1650"],
  ["initial-access", "T1189 T1190 T1195 T1199 T1200 T1566 T1669 T1684"],
  ["initial-access lateral-movement", "T1091"],
  ["initial-access persistence", "T1133"],
  ["initial-access command-and-control", "T1659"],
  ["initial-access persistence privilege-escalation defense-evasion", "T1078"],
  [
    "execution",
    "T1047 T1059 T1106 T1129 T1203 T1204 T1559 T1569 T1609 T1648 T1651 T1674 T1675 T1677",
  ],
  ["execution lateral-movement", "T1072"],
  ["execution persistence privilege-escalation", "T1053"],
  ["execution defense-evasion", "T1610"],
  ["persistence", "T1136 T1137 T1176 T1505 T1525 T1554 T1653 T1668 T1671"],
  ["persistence privilege-escalation", "T1037 T1098 T1543 T1546 T1547"],
  ["persistence privilege-escalation defense-evasion", "T1574"],
  ["persistence defense-evasion", "T1112 T1197 T1542"],
  ["persistence defense-evasion command-and-control", "T1205"],
  ["privilege-escalation", "T1068 T1611"],
  ["privilege-escalation defense-evasion", "T1055 T1134 T1484 T1548"],
  [
    "defense-evasion",
    "T1006 T1014 T1027 T1036 T1070 T1127 T1140 T1202 T1207 T1211 T1216 T1218 T1220 T1221 " +
      "T1222 T1480 T1535 T1553 T1562 T1564 T1578 T1599 T1600 T1601 T1612 T1620 T1647 T1656 " +
      "T1666 T1672 T1678 T1679",
  ],
  ["defense-evasion discovery", "T1497 T1622"],
  ["defense-evasion lateral-movement", "T1550"],
  ["persistence defense-evasion credential-access", "T1556"],
  // The latest release moved these out of defense evasion into a tactic of their own.
  ["defense-impairment", "T1685 T1686 T1687 T1688 T1689 T1690"],
  [
    "credential-access",
    "T1003 T1110 T1111 T1187 T1212 T1528 T1539 T1552 T1555 T1558 T1606 T1621 T1649",
  ],
  ["credential-access discovery", "T1040"],
  ["credential-access collection", "T1056 T1557"],
  [
    "discovery",
    "T1007 T1010 T1012 T1016 T1018 T1033 T1046 T1049 T1057 T1069 T1082 T1083 T1087 T1120 " +
      "T1124 T1135 T1201 T1217 T1482 T1518 T1526 T1538 T1580 T1613 T1614 T1615 T1619 T1652 " +
      "T1654 T1673 T1680",
  ],
  ["lateral-movement", "T1021 T1080 T1210 T1534 T1563 T1570"],
  [
    "collection",
    "T1005 T1025 T1039 T1074 T1113 T1114 T1115 T1119 T1123 T1125 T1185 T1213 T1530 T1560 T1602",
  ],
  [
    "command-and-control",
    "T1001 T1008 T1071 T1090 T1092 T1095 T1102 T1104 T1105 T1132 T1219 T1568 T1571 T1572 " +
      "T1573 T1665",
  ],
  ["exfiltration", "T1011 T1020 T1029 T1030 T1041 T1048 T1052 T1537 T1567"],
  [
    "impact",
    "T1485 T1486 T1489 T1490 T1491 T1495 T1496 T1498 T1499 T1529 T1531 T1561 T1565 T1657 T1667",
  ],
];

/** Parent technique ID -> its tactics. */
export const ATTACK_TACTICS: ReadonlyMap<string, readonly Tactic[]> = new Map(
  GROUPS.flatMap(([tactics, ids]) =>
    ids.split(/\s+/).map((id) => [id, tactics.split(" ") as Tactic[]] as const),
  ),
);

/** Tactics of a technique or sub-technique ("T1552.004" -> T1552's); [] when unknown. */
export function tacticsOf(technique: string): string[] {
  const parent = technique.trim().toUpperCase().split(".")[0] ?? "";
  return [...(ATTACK_TACTICS.get(parent) ?? [])];
}

/** Which alerts a technique's tactics lead one to expect from a behaviour monitor. */
export type AlertGroup = "expected" | "informational" | "other";

const EXPECTED = new Set([
  "credential-access",
  "collection",
  "exfiltration",
  "persistence",
  "privilege-escalation",
  "defense-evasion",
  "defense-impairment",
  "execution",
  "impact",
  "command-and-control",
]);

/**
 * "expected" when any tactic is one whose behaviour departs from an agent's normal work;
 * "informational" when the technique is discovery only, which agents also do for honest
 * reasons; "other" for the rest (lateral movement, initial access, reconnaissance, resource
 * development, unknown).
 */
export function alertGroup(tactics: readonly string[]): AlertGroup {
  if (tactics.some((t) => EXPECTED.has(t))) return "expected";
  if (tactics.length > 0 && tactics.every((t) => t === "discovery")) return "informational";
  return "other";
}
