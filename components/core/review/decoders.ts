/**
 * Finds the node payload in a resource's inputs, by the resource's Pulumi type: user data of EC2 and Alibaba Cloud
 * resources, the DaemonSet's ConfigMap. Whether a field is base64 follows the providers' schemas (@pulumi/aws 7,
 * @pulumi/alicloud 3): EC2 launch templates and `userDataBase64` are base64, an EC2 instance's `userData` is text,
 * Alibaba Cloud takes either (base64 recommended; ACK node pools: base64).
 */
import { gunzipSync } from "node:zlib";
import { APPLY_SCRIPT_KEY } from "../kubernetes/manifests";
import { type NodePayload, payloadFromApplyScript, payloadFromUserData } from "./payload";

/** What a preview shows for a secret value (`pulumi preview --json` never prints secrets). */
export const SECRET_VALUE = "[secret]";
/** What a preview shows for a value computed during the update. */
export const UNKNOWN_VALUE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** One field of a resource that carries a node payload, decoded. */
export type DecodedField =
  | { field: string; state: "payload"; payload: NodePayload }
  | { field: string; state: "secret" | "unknown" }
  | { field: string; state: "error"; message: string };

/** An EKS node group's launch template reference (its payload is the launch template's). */
export interface LaunchTemplateRef {
  id?: string;
  name?: string;
  version?: string;
}

/** A resource's payload fields (empty when it has none), or the launch template it takes them from. */
export interface DecodedResource {
  fields: DecodedField[];
  launchTemplate?: LaunchTemplateRef;
}

type Encoding = "base64" | "text" | "auto";

/** The payload-carrying fields of each known resource type, and how each is encoded. */
export const PAYLOAD_FIELDS: Record<string, Array<[string, Encoding]>> = {
  "aws:ec2/launchTemplate:LaunchTemplate": [["userData", "base64"]],
  "aws:ec2/instance:Instance": [
    ["userData", "text"],
    ["userDataBase64", "base64"],
  ],
  "alicloud:ecs/instance:Instance": [["userData", "auto"]],
  "alicloud:ecs/ecsLaunchTemplate:EcsLaunchTemplate": [["userData", "auto"]],
  "alicloud:ess/scalingConfiguration:ScalingConfiguration": [["userData", "auto"]],
  "alicloud:cs/nodePool:NodePool": [
    ["preUserData", "auto"],
    ["userData", "auto"],
  ],
};

const NODE_CONFIG_LABEL = "registry-mirrors-node-config";

/** The payload fields of a resource of `type` with these inputs. */
export function decodeResource(type: string, inputs: Record<string, unknown> | undefined): DecodedResource {
  const props = inputs ?? {};
  if (type === "aws:eks/nodeGroup:NodeGroup") {
    const lt = props.launchTemplate as Record<string, unknown> | undefined;
    if (lt === undefined || typeof lt !== "object") return { fields: [] };
    const str = (v: unknown) => (typeof v === "string" ? v : undefined);
    return { fields: [], launchTemplate: { id: str(lt.id), name: str(lt.name), version: str(lt.version) } };
  }
  if (type === "kubernetes:core/v1:ConfigMap") return { fields: configMapFields(props) };
  if (type === "kubernetes:core/v1:Secret") {
    const field = props.stringData !== undefined ? "stringData" : "data";
    return { fields: isOurs(props) ? [{ field, state: "secret" }] : [] };
  }
  const fields = PAYLOAD_FIELDS[type] ?? [];
  return {
    fields: fields.flatMap(([field, encoding]) =>
      props[field] === undefined || props[field] === "" ? [] : [decodeField(field, props[field], encoding)],
    ),
  };
}

function decodeField(field: string, value: unknown, encoding: Encoding): DecodedField {
  if (value === SECRET_VALUE) return { field, state: "secret" };
  if (value === UNKNOWN_VALUE) return { field, state: "unknown" };
  if (typeof value !== "string") return { field, state: "error", message: `not a string (${typeof value})` };
  try {
    return { field, state: "payload", payload: payloadFromUserData(userDataText(value, encoding)) };
  } catch (err) {
    return { field, state: "error", message: (err as Error).message };
  }
}

/** The user data text of a field value: base64 decoded (and gunzipped) as the field's encoding says. */
export function userDataText(value: string, encoding: Encoding): string {
  if (encoding === "text") return value;
  const compact = value.replace(/\s+/g, "");
  const isBase64 = compact.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(compact);
  if (!isBase64) {
    if (encoding === "auto") return value;
    throw new Error("not base64, as this field must be");
  }
  let bytes = Buffer.from(compact, "base64");
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) bytes = gunzipSync(bytes);
  const text = bytes.toString("utf8");
  if (encoding === "auto" && !/^(#|MIME-Version:|Content-Type:|\[)/i.test(text)) return value;
  return text;
}

function labelsOf(props: Record<string, unknown>): Record<string, unknown> {
  const metadata = props.metadata as Record<string, unknown> | undefined;
  const labels = metadata?.labels;
  return labels !== null && typeof labels === "object" ? (labels as Record<string, unknown>) : {};
}

function isOurs(props: Record<string, unknown>): boolean {
  const labels = labelsOf(props);
  if (labels["app.kubernetes.io/name"] === NODE_CONFIG_LABEL) return true;
  if (labels["app.kubernetes.io/part-of"] === "registry-mirrors") return true;
  return [props.data, props.stringData].some(
    (d) => d !== null && typeof d === "object" && APPLY_SCRIPT_KEY in (d as object),
  );
}

// The DaemonSet's ConfigMap holds the apply script; a ConfigMap the user labels part-of registry-mirrors (such as
// one publishing buildkitd.toml) holds node files by key, each shown whole.
function configMapFields(props: Record<string, unknown>): DecodedField[] {
  if (!isOurs(props)) return [];
  const data = props.data;
  if (data === SECRET_VALUE) return [{ field: "data", state: "secret" }];
  if (data === UNKNOWN_VALUE) return [{ field: "data", state: "unknown" }];
  if (data === null || typeof data !== "object") return [];
  const entries = Object.entries(data as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return entries.map(([key, value]): DecodedField => {
    const field = `data["${key}"]`;
    if (value === SECRET_VALUE) return { field, state: "secret" };
    if (value === UNKNOWN_VALUE) return { field, state: "unknown" };
    if (typeof value !== "string") return { field, state: "error", message: `not a string (${typeof value})` };
    try {
      const payload =
        key === APPLY_SCRIPT_KEY ? payloadFromApplyScript(value, key) : { files: [{ path: key, content: value }] };
      return { field, state: "payload", payload };
    } catch (err) {
      return { field, state: "error", message: (err as Error).message };
    }
  });
}
