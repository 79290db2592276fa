/**
 * `pulumi preview --json` documents built from rendered output, in the layout of the Pulumi CLI's PreviewDigest
 * (sdk/pkg/display/json.go): steps with op, urn, provider, oldState/newState (apitype.ResourceV3: urn, custom, id,
 * type, inputs, outputs, parent, provider), diffReasons, replaceReasons and detailedDiff.
 */
import { renderNodeConfig, type NodeConfigInput, nodeConfigUserData } from "../../components/core/render/node-config";
import { nodeConfigManifests } from "../../components/core/kubernetes/manifests";
import { encodeUserData, fitUserData, renderNodeUserData } from "../../components/core/userdata";

export const STACK = "urn:pulumi:dev::fleet";

export function urnOf(type: string, name: string, parents: string[] = []): string {
  return `${STACK}::${[...parents, type].join("$")}::${name}`;
}

export interface State {
  type: string;
  inputs: Record<string, unknown>;
  outputs?: Record<string, unknown>;
  id?: string;
  parent?: string;
}

function resourceV3(urn: string, state: State) {
  return {
    urn,
    custom: true,
    ...(state.id !== undefined ? { id: state.id } : {}),
    type: state.type,
    inputs: state.inputs,
    outputs: state.outputs ?? { ...state.inputs, ...(state.id !== undefined ? { id: state.id } : {}) },
    parent: state.parent ?? `${STACK}::pulumi:pulumi:Stack::fleet-dev`,
    provider: `${STACK}::pulumi:providers:${state.type.split(":")[0]}::default_7_0_0::0c7ab0c6-0000-4000-8000-000000000000`,
  };
}

/** The steps the engine reports for one resource: an update, a replacement (three steps), a create or a delete. */
export function steps(
  op: "update" | "replace" | "create" | "delete" | "same",
  urn: string,
  before: State | undefined,
  after: State | undefined,
  changed: string[] = [],
) {
  const provider = resourceV3(urn, (after ?? before) as State).provider;
  const detailedDiff = Object.fromEntries(
    changed.map((k) => [k, { kind: op === "replace" ? "update-replace" : "update", inputDiff: false }]),
  );
  const step = (stepOp: string, old: State | undefined, next: State | undefined) => ({
    op: stepOp,
    urn,
    provider,
    ...(old ? { oldState: resourceV3(urn, old) } : {}),
    ...(next ? { newState: resourceV3(urn, { ...next, id: undefined, outputs: next.inputs }) } : {}),
    ...(stepOp === "update" || stepOp === "replace" ? { diffReasons: changed } : {}),
    ...(stepOp === "replace" || stepOp === "create-replacement" ? { replaceReasons: changed } : {}),
    detailedDiff: stepOp === "update" || stepOp === "replace" ? detailedDiff : null,
  });
  if (op === "replace")
    return [
      step("create-replacement", before, after),
      step("replace", before, after),
      step("delete-replaced", before, undefined),
    ];
  return [step(op, op === "create" ? undefined : before, op === "delete" ? undefined : after)];
}

/** A whole preview document around the given steps. */
export function previewDoc(allSteps: unknown[]) {
  const changeSummary: Record<string, number> = {};
  for (const s of allSteps as Array<{ op: string }>) changeSummary[s.op] = (changeSummary[s.op] ?? 0) + 1;
  return {
    config: { "aws:region": "us-west-2" },
    steps: [
      {
        op: "same",
        urn: `${STACK}::pulumi:pulumi:Stack::fleet-dev`,
        oldState: { urn: `${STACK}::pulumi:pulumi:Stack::fleet-dev`, custom: false, type: "pulumi:pulumi:Stack" },
        newState: { urn: `${STACK}::pulumi:pulumi:Stack::fleet-dev`, custom: false, type: "pulumi:pulumi:Stack" },
        detailedDiff: null,
      },
      ...allSteps,
    ],
    duration: 1520000000,
    changeSummary,
  };
}

/** Two policies that differ in one Docker Hub mirror (the second), over docker and containerd. */
export function policies(
  runtimes: NodeConfigInput["runtimes"] = ["docker", "containerd"],
): [NodeConfigInput, NodeConfigInput] {
  const policy = (second: string): NodeConfigInput => ({
    policy: {
      registries: {
        "docker.io": { mirrors: ["https://mirror-a.example.com", second, "https://mirror-c.example.com"] },
        "ghcr.io": { mirrors: ["https://ghcr-mirror.example.com"] },
        "quay.io": { mirrors: ["https://quay-mirror.example.com"] },
      },
    },
    runtimes,
  });
  return [policy("https://mirror-b.example.com"), policy("https://mirror-b2.example.com")];
}

/** An EC2 launch template's userData as the provider holds it: base64 of the cloud-config. */
export function launchTemplateUserData(input: NodeConfigInput): string {
  const userData = nodeConfigUserData(renderNodeConfig(input));
  if (userData === undefined) throw new Error("no user data");
  return encodeUserData(userData);
}

/** An ESS scaling configuration's userData as ecsUserData renders it: base64 MIME with the user's own part. */
export function scalingConfigurationUserData(input: NodeConfigInput, userPart: string): string {
  const applyScript = renderNodeConfig(input).applyScript;
  return fitUserData("ecs", "auto", (compress) => renderNodeUserData({ applyScript, userData: userPart, compress }));
}

/** The DaemonSet's ConfigMap inputs for a policy. */
export function configMapInputs(input: NodeConfigInput) {
  const { configMap } = nodeConfigManifests({
    name: "hosts-node-config",
    namespace: "kube-system",
    image: "python:3.13-alpine",
    mode: "apply",
    applyScript: renderNodeConfig(input).applyScript,
    tolerations: [{ operator: "Exists" }],
    maxUnavailable: 1,
    priorityClassName: "system-node-critical",
  });
  return { apiVersion: "v1", kind: "ConfigMap", metadata: configMap.metadata, immutable: true, data: configMap.data };
}
