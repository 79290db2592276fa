import { parse as parseToml } from "smol-toml";
import { PolicyError } from "../errors";
import { yaml } from "../lazy-yaml";
import { refuseDockerOnBottlerocket, renderBottlerocketUserData } from "./bottlerocket";
import { firstLine } from "./files";
import { type MimePart, renderMimeMultipart } from "./mime";
import { collectUserParts, scriptPart } from "./node";

/** The AMI families of EKS nodes, which read different user data. */
export type EksAmiFamily = "al2" | "al2023" | "bottlerocket";

/**
 * The AMI family of an EKS node group `amiType` (`AL2023_x86_64_STANDARD`, `AL2_ARM_64`,
 * `BOTTLEROCKET_x86_64_NVIDIA`, ...). `CUSTOM` needs `amiFamily`; Windows is not supported.
 */
export function eksAmiFamily(amiType: string, amiFamily?: EksAmiFamily): EksAmiFamily {
  const families: EksAmiFamily[] = ["al2", "al2023", "bottlerocket"];
  if (amiFamily !== undefined) {
    if (!families.includes(amiFamily))
      throw new PolicyError("amiFamily", amiFamily, "unknown AMI family", `use one of ${families.join(", ")}`);
    return amiFamily;
  }
  if (amiType.startsWith("AL2023_")) return "al2023";
  if (amiType.startsWith("AL2_")) return "al2";
  if (amiType.startsWith("BOTTLEROCKET_")) return "bottlerocket";
  if (amiType === "CUSTOM")
    throw new PolicyError(
      "amiFamily",
      undefined,
      "a CUSTOM AMI does not say which user data it reads",
      'set amiFamily to "al2023", "al2" or "bottlerocket" (the family the AMI was built from)',
    );
  if (amiType.startsWith("WINDOWS_"))
    throw new PolicyError(
      "amiType",
      amiType,
      "Windows nodes read PowerShell user data, which registry-mirrors does not render",
      "configure Windows nodes another way, or use a Linux amiType",
    );
  throw new PolicyError(
    "amiType",
    amiType,
    "unknown EKS amiType",
    "use the node group's amiType, e.g. AL2023_x86_64_STANDARD, AL2_x86_64 or BOTTLEROCKET_x86_64",
  );
}

/** Inputs of {@link renderEksUserData}. */
export interface EksUserDataArgs {
  /** Which AMI family the nodes run (see {@link eksAmiFamily}). */
  family: EksAmiFamily;
  /** The node apply script (AL2, AL2023). Refused for Bottlerocket, which runs no scripts and no Docker. */
  applyScript?: string;
  /** Where the script is written on the node; default {@link DEFAULT_APPLY_SCRIPT_PATH}. */
  scriptPath?: string;
  /** AL2023: containerd TOML for the NodeConfig part (see {@link EksNodeConfigArgs.containerdConfig}). */
  containerdConfig?: string;
  /** AL2023: cluster details, for self-managed nodes or custom AMIs (managed node groups get them from EKS). */
  cluster?: EksClusterDetails;
  /** Bottlerocket: the settings TOML (e.g. `MirrorDaemonConfig.bottlerocketSettings`). */
  bottlerocketSettings?: string;
  /** Bottlerocket: the user's own settings TOML, merged in. */
  userSettings?: string;
  /** AL2, AL2023: the user's existing user data, kept after ours. */
  userData?: string;
  /** AL2, AL2023: the user's own MIME parts, kept after ours, in order. */
  userParts?: MimePart[];
  /** AL2, AL2023: carry the apply script gzip+base64 inside its part (see {@link UserDataArgs.compress}). */
  compress?: boolean | "all";
  /** AL2, AL2023: fetch the apply script's engine from this folder URL (see {@link UserDataArgs.engineUrl}). */
  engineUrl?: string;
}

/**
 * EKS node user data. AL2 and AL2023: MIME multipart (what managed node groups require), ours first —
 * AL2023 with a `NodeConfig` part when containerd settings or cluster details are given, then the
 * script part that writes hosts.toml — then the user's parts. Bottlerocket: TOML settings.
 */
export function renderEksUserData(args: EksUserDataArgs): string {
  const target = args.family === "al2023" ? "eks-al2023" : args.family === "al2" ? "cloud-init" : undefined;
  const userParts = collectUserParts(args.userData, args.userParts, target);
  if (args.family === "bottlerocket") {
    refuseDockerOnBottlerocket({ applyScript: args.applyScript });
    if (userParts.length > 0) {
      throw new PolicyError(
        "userParts",
        userParts.map((p) => p.contentType),
        "Bottlerocket user data is TOML settings only; it reads no MIME parts or scripts",
        "put your own settings in userSettings (TOML)",
      );
    }
    if (args.engineUrl !== undefined) {
      throw new PolicyError(
        "engineUrl",
        args.engineUrl,
        "Bottlerocket nodes run no apply script, so there is no engine to fetch",
        "leave engineUrl out for Bottlerocket node groups",
      );
    }
    if (args.bottlerocketSettings === undefined) {
      throw new PolicyError(
        "bottlerocketSettings",
        undefined,
        "Bottlerocket nodes need the Bottlerocket settings TOML",
        'add "bottlerocket" to the runtimes and pass MirrorDaemonConfig.bottlerocketSettings',
      );
    }
    return renderBottlerocketUserData({ settings: args.bottlerocketSettings, userSettings: args.userSettings });
  }
  if (args.applyScript === undefined) {
    throw new PolicyError(
      "applyScript",
      undefined,
      `${args.family.toUpperCase()} nodes get their mirrors from the apply script`,
      "pass MirrorDaemonConfig.applyScript",
    );
  }
  const notRead: Array<keyof EksUserDataArgs> = [
    "bottlerocketSettings",
    "userSettings",
    ...(args.family === "al2" ? (["containerdConfig", "cluster"] as const) : []),
  ];
  const unused = notRead.filter((k) => args[k] !== undefined);
  if (unused.length > 0) {
    throw new PolicyError(
      unused[0],
      "(set)",
      `${args.family.toUpperCase()} nodes do not read this setting`,
      `remove ${unused.join(", ")} for ${args.family.toUpperCase()} nodes`,
    );
  }
  const parts: MimePart[] = [];
  if (args.family === "al2023" && (args.containerdConfig !== undefined || args.cluster !== undefined)) {
    parts.push({
      contentType: "application/node.eks.aws",
      content: renderEksNodeConfig({ cluster: args.cluster, containerdConfig: args.containerdConfig }),
      filename: "registry-mirrors-nodeconfig.yaml",
    });
  }
  parts.push(
    scriptPart({
      applyScript: args.applyScript,
      scriptPath: args.scriptPath,
      compress: args.compress,
      engineUrl: args.engineUrl,
    }),
    ...userParts,
  );
  return renderMimeMultipart(parts, { target });
}

/** Cluster details nodeadm needs when EKS does not supply them (self-managed nodes, custom AMIs). */
export interface EksClusterDetails {
  /** EKS cluster name. */
  name: string;
  /** API server endpoint URL. */
  apiServerEndpoint: string;
  /** Base64 cluster CA bundle. */
  certificateAuthority: string;
  /** Service CIDR, e.g. `10.100.0.0/16`. */
  cidr: string;
}

/** Inputs of {@link renderEksNodeConfig}. */
export interface EksNodeConfigArgs {
  /** Cluster details; leave unset for EKS managed node groups (EKS adds its own NodeConfig part). */
  cluster?: EksClusterDetails;
  /**
   * containerd TOML merged by nodeadm over its default config. AL2023 already sets
   * `config_path = "/etc/containerd/certs.d:/etc/docker/certs.d"`, so mirrors need no entry here.
   */
  containerdConfig?: string;
}

const EKS_CLUSTER_KEYS: Array<keyof EksClusterDetails> = ["name", "apiServerEndpoint", "certificateAuthority", "cidr"];

/** The `NodeConfig` YAML (apiVersion `node.eks.aws/v1alpha1`) an `application/node.eks.aws` part carries. */
export function renderEksNodeConfig(args: EksNodeConfigArgs): string {
  const spec: Record<string, unknown> = {};
  if (args.cluster) {
    const cluster: Record<string, string> = {};
    for (const key of EKS_CLUSTER_KEYS) {
      const value = args.cluster[key];
      if (typeof value !== "string" || value === "") {
        throw new PolicyError(
          `cluster.${key}`,
          value,
          "nodeadm needs every cluster detail when it is given",
          `set cluster.${key} (from the aws.eks.Cluster outputs), or leave cluster unset for a managed node group`,
        );
      }
      cluster[key] = value;
    }
    spec.cluster = cluster;
  }
  if (args.containerdConfig !== undefined) {
    checkContainerdConfig(args.containerdConfig);
    spec.containerd = { config: args.containerdConfig };
  }
  if (Object.keys(spec).length === 0) {
    throw new PolicyError(
      "nodeConfig",
      args,
      "a NodeConfig needs cluster details or containerd settings",
      "set cluster or containerdConfig, or leave the NodeConfig part out",
    );
  }
  const doc = new (yaml().Document)({ apiVersion: "node.eks.aws/v1alpha1", kind: "NodeConfig", spec });
  return doc.toString({ lineWidth: 0 });
}

function checkContainerdConfig(config: string): void {
  let parsed: Record<string, unknown>;
  try {
    parsed = parseToml(config) as Record<string, unknown>;
  } catch (err) {
    throw new PolicyError(
      "containerdConfig",
      firstLine(config),
      `not valid TOML (${(err as Error).message.split("\n")[0]})`,
      "pass the TOML containerd reads, e.g. from the containerd renderer",
    );
  }
  const plugins = (parsed.plugins ?? {}) as Record<string, { registry?: { mirrors?: unknown } }>;
  for (const plugin of ["io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images"]) {
    if (plugins[plugin]?.registry?.mirrors !== undefined) {
      throw new PolicyError(
        "containerdConfig",
        `plugins."${plugin}".registry.mirrors`,
        "AL2023 sets config_path, and containerd refuses to load the CRI plugin when registry.mirrors is set with it (a broken node)",
        "drop registry.mirrors and deliver the mirrors as hosts.toml files (the apply script part writes them)",
      );
    }
  }
}
