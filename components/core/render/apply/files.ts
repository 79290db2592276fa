import { embedFile } from "./common";

/** What the script tells a runtime after one of its files changed. */
export type ReloadKind = "crio" | "k3s" | "rke2" | "buildkit";

/** A file the files section writes, with what to tell after a change. */
export interface SectionFile {
  path: string;
  content: string;
  mode: number;
  reload?: ReloadKind;
}

/** Per reload kind: the label in messages, the action, and the systemd units that may run it. */
const GROUPS: Array<{
  kind: ReloadKind | undefined;
  label: string;
  action: "none" | "reload" | "restart";
  units: string[];
}> = [
  // CRI-O re-reads registries.conf(.d) on SIGHUP; podman and skopeo read it on every invocation.
  { kind: "crio", label: "crio", action: "reload", units: ["crio"] },
  // k3s and RKE2 read registries.yaml only at start-up (server or agent).
  { kind: "k3s", label: "k3s", action: "restart", units: ["k3s", "k3s-agent"] },
  { kind: "rke2", label: "rke2", action: "restart", units: ["rke2-server", "rke2-agent"] },
  { kind: "buildkit", label: "buildkit", action: "restart", units: ["buildkit"] },
  { kind: undefined, label: "files", action: "none", units: [] },
];

const FILES_FUNCTIONS = `# Writes the files listed in $WORK/$1.list ("name mode path" lines) for label $1; unit(s) $3.. get action $2
# (none, reload or restart) when one of them is running; a needed restart that restartPolicy forbids writes nothing.
group_apply() {
  label=$1 action=$2
  shift 2
  pending=
  while read -r w m p; do
    if cmp -s "$WORK/$w" "$ROOT$p"; then say "$label: unchanged $p"; else pending=1; fi
  done <"$WORK/$label.list"
  [ -n "$pending" ] || return 0
  group_unit "$@"
  act=none
  if [ -n "$unit" ] && [ "$action" != none ]; then act=$action; fi
  if [ "$act" = restart ] && [ "$RESTART_POLICY" != if-needed ]; then
    fail "$label: the new files take effect only after a restart of $unit, and restartPolicy is \\"never\\"; nothing was changed. Fix: set restartPolicy: \\"if-needed\\", or restart $unit yourself in a maintenance window after allowing it"
    return 0
  fi
  while read -r w m p; do
    if ! cmp -s "$WORK/$w" "$ROOT$p"; then
      backup "$ROOT$p"
      change "$WORK/$w" "$ROOT$p" "$m"
      say "$label: wrote $p"
    fi
  done <"$WORK/$label.list"
  settle "$label" "$unit" "$act" active "$unit"
}
group_restore() {
  label=$1 action=$2
  shift 2
  pending=
  while read -r w m p; do
    if has_backup "$ROOT$p"; then pending=1; fi
  done <"$WORK/$label.list"
  [ -n "$pending" ] || return 0
  group_unit "$@"
  act=none
  if [ -n "$unit" ] && [ "$action" != none ]; then act=$action; fi
  if [ "$act" = restart ] && [ "$RESTART_POLICY" != if-needed ]; then
    fail "$label: putting the files back needs a restart of $unit, and restartPolicy is \\"never\\"; nothing was changed. Fix: set restartPolicy: \\"if-needed\\", or put back the .registry-mirrors.bak files and restart $unit yourself"
    return 0
  fi
  while read -r w m p; do unapply "$ROOT$p" "$label"; done <"$WORK/$label.list"
  settle "$label" "$unit" "$act" active "$unit"
}
# Sets unit to the first of "$@" that is running, or to nothing.
group_unit() {
  unit=
  for u in "$@"; do
    if active "$u"; then
      unit=$u
      return 0
    fi
  done
}
`;

/** The section for the other runtimes' drop-in files (CRI-O/podman, k3s, RKE2, BuildKit, anything else). */
export function filesSection(files: SectionFile[]): string {
  const out = ["# --- Other runtimes' files: written when different, then the runtime is told ---"];
  let n = 0;
  const calls: string[] = [];
  for (const group of GROUPS) {
    const members = files.filter((f) => f.reload === group.kind);
    if (members.length === 0) continue;
    const lines: string[] = [];
    for (const f of members) {
      n += 1;
      out.push(embedFile(`file${n}`, f.content).trimEnd());
      lines.push(`file${n} ${f.mode.toString(8)} ${f.path}`);
    }
    out.push(embedFile(`${group.label}.list`, `${lines.join("\n")}\n`).trimEnd());
    calls.push([group.label, group.action, ...group.units].join(" "));
  }
  out.push(FILES_FUNCTIONS.trimEnd());
  for (const args of calls)
    out.push(`if [ "$MODE" = apply ]; then group_apply ${args}; else group_restore ${args}; fi`);
  out.push("");
  return out.join("\n");
}
