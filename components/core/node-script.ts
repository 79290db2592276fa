/**
 * Assembles the node apply script: the **engine** (the sh, Python, jq and awk sources in `node/`, plus constants from
 * the library's tables; it changes only with the library version) followed by the **data** part (the files the policy
 * renders, as plain here-documents, and the few settings of the plan). One POSIX sh file on the node; byte-identical
 * for identical inputs. The contract between the parts is written at the top of each file in `node/`. The engine is
 * assembled in node-engine.ts, the data part in node-data.ts; the plan they share is in node-plan.ts.
 */
import { renderNodeData } from "./node-data";
import { engineParts, renderNodeEngine } from "./node-engine";
import { DATA_MARKER, type NodeApplyPlan } from "./node-plan";

export { renderNodeData } from "./node-data";
export {
  ENGINE_VERSION,
  type EngineParts,
  engineFacts,
  engineParts,
  engineVersionOf,
  nodeSource,
  renderNodeEngine,
} from "./node-engine";
export {
  DATA_MARKER,
  FILE_GROUPS,
  type FileGroup,
  fileGroupOf,
  type ManagedFile,
  type NodeApplyPlan,
} from "./node-plan";
export { ECR_DIR, ECR_UNIT, TEMPLATE_SUFFIX } from "./node-ecr";
export { WATCH_DIR, WATCH_UNIT } from "./node-watch";

/**
 * Renders the node apply script (`sh apply-node-config.sh [apply|restore]`): the engine, then the data part. It
 * merges the Docker keys into the node's daemon.json keeping every other key, writes each file atomically with one
 * backup, does nothing when nothing changed, reloads (or restarts, when needed and allowed) only the runtimes whose
 * files changed, checks they came back, and puts the previous files back when they did not. Deterministic.
 *
 * State it leaves on the node, beside each file: `FILE.registry-mirrors.bak` (the node's own version, kept from the
 * first change on; `FILE.registry-mirrors.created` when there was none), `daemon.json.registry-mirrors.keys` (the
 * daemon.json keys it manages) and `<hostsDir>/.registry-mirrors.files` (the hosts.toml files it wrote). For a
 * hosts.toml with ECR mirrors it writes `hosts.toml.registry-mirrors.template` and installs the ECR token refresher
 * in /etc/containerd/registry-mirrors with a systemd timer. It leaves the empty lock file `.registry-mirrors.lock` in
 * each top folder it writes; a run waits for another one on the same folder.
 */
export function renderApplyScript(plan: NodeApplyPlan): string {
  const data = renderNodeData(plan);
  return renderNodeEngine(engineParts(plan)) + data;
}

/** Splits an apply script into its engine and data parts (undefined when it has no data marker). */
export function splitApplyScript(script: string): { engine: string; data: string } | undefined {
  const at = script.indexOf(`\n${DATA_MARKER}\n`);
  if (at < 0) return undefined;
  return { engine: script.slice(0, at + 1), data: script.slice(at + 1) };
}

/** The watchdog plan an apply script carries in its data part (`watch_plan`), parsed; undefined without one. */
export function watchPlanOf(script: string): { stateDir: string; metricsFile: string | null } | undefined {
  const data = splitApplyScript(script)?.data;
  const start = data ? /^ {2}watch_plan <<'(\S+)'\n/m.exec(data) : null;
  if (!data || !start) return undefined;
  const from = start.index + start[0].length;
  const end = data.indexOf(`\n${start[1]}\n`, from - 1);
  return end < 0 ? undefined : JSON.parse(data.slice(from, end + 1));
}
