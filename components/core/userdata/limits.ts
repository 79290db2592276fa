import { gzipSync } from "node:zlib";
import { PolicyError } from "../errors";

/** Options of {@link encodeUserData}. */
export interface EncodeOptions {
  /** gzip before base64 (cloud-init reads gzip user data; EKS managed node groups do not). */
  gzip?: boolean;
}

/**
 * Base64 of the user data, optionally gzip-compressed first. The gzip header carries no file name and
 * a zero mtime, and its OS byte is pinned to Unix, so equal input gives equal output.
 */
export function encodeUserData(text: string, options: EncodeOptions = {}): string {
  return options.gzip ? gzipBytes(text).toString("base64") : Buffer.from(text, "utf8").toString("base64");
}

/** gzip at level 9 with no name and a zero mtime in the header; the OS byte is pinned to Unix. */
export function gzipBytes(text: string): Buffer {
  const gz = gzipSync(Buffer.from(text, "utf8"), { level: 9 });
  gz[9] = 3; // OS = Unix, whatever platform rendered it
  return gz;
}

/** Base64 text in lines of 76 characters, each ending in a newline. */
export function wrapLines(encoded: string): string {
  return encoded.replace(/.{1,76}/g, "$&\n");
}

/** Where user data goes: AWS EC2 (16 KB before base64) or Alibaba Cloud ECS (32 KB, base64 included). */
export type UserDataLimitTarget = "ec2" | "ecs";

/** The user data size limits, in bytes. */
export const USER_DATA_LIMITS: Record<UserDataLimitTarget, { bytes: number; counted: string; cloud: string }> = {
  ec2: { bytes: 16384, counted: "before base64", cloud: "AWS EC2" },
  ecs: { bytes: 32768, counted: "after base64 (base64 included)", cloud: "Alibaba Cloud ECS" },
};

/**
 * Refuses user data over the target's limit. `encoded` is the base64 actually sent (it may be gzip);
 * without it the plain text is measured. Returns the size that was counted.
 */
export function checkUserDataSize(
  target: UserDataLimitTarget,
  text: string,
  encoded?: string,
  compressed?: boolean,
): number {
  const limit = USER_DATA_LIMITS[target];
  const rawBytes = encoded !== undefined ? Buffer.from(encoded, "base64") : Buffer.from(text, "utf8");
  const size = target === "ec2" ? rawBytes.length : (encoded?.length ?? base64Length(rawBytes.length));
  if (size > limit.bytes) {
    const alreadyCompressed = compressed ?? (rawBytes[0] === 0x1f && rawBytes[1] === 0x8b);
    const fixes = [
      ...(alreadyCompressed ? [] : ["compress it (compress: true)"]),
      "mirror fewer registries or drop unused settings",
      "or deliver the node files by the Kubernetes DaemonSet instead of user data",
    ];
    throw new PolicyError(
      "userData",
      `${size} bytes`,
      `${limit.cloud} user data is limited to ${limit.bytes} bytes (${limit.bytes / 1024} KB, counted ${limit.counted}); this is ${size - limit.bytes} bytes over`,
      fixes.join(", "),
    );
  }
  return size;
}

/** Encodes (see {@link encodeUserData}) and checks the size against the target's limit in one step. */
export function encodeCheckedUserData(target: UserDataLimitTarget, text: string, options: EncodeOptions = {}): string {
  const encoded = encodeUserData(text, options);
  checkUserDataSize(target, text, encoded);
  return encoded;
}

/**
 * When user data is compressed: always (`true`: files and the apply script's engine; its data part stays readable),
 * `"all"` (the data part too), never, or (`"auto"`) the first of plain, `true`, `"all"` that fits the limit, and last
 * the whole document gzipped where the reader takes that (see {@link FitOptions.gzipReader}).
 */
export type Compression = boolean | "all" | "auto";

/** Options of {@link fitUserData}. */
export interface FitOptions {
  /**
   * The instance reads user data with cloud-init, which takes a gzipped document: `"auto"` then falls back to the
   * whole document gzipped (no readable part left; `registry-mirrors diff` and the component's `nodeFiles` still show
   * a change) when even `"all"` is over the limit. Not for EKS AL2023 (nodeadm) or Bottlerocket.
   */
  gzipReader?: boolean;
}

/**
 * Renders user data plain or compressed (see {@link Compression}), checks it against the target's limit and returns
 * it base64-encoded. `"auto"` keeps the most reviewable form that fits.
 */
export function fitUserData(
  target: UserDataLimitTarget,
  compress: Compression,
  render: (compress: boolean | "all") => string,
  options: FitOptions = {},
): string {
  const fits = (bytes: number) => (target === "ec2" ? bytes : base64Length(bytes)) <= USER_DATA_LIMITS[target].bytes;
  if (compress === "auto") {
    for (const form of [false, true, "all"] as const) {
      const text = render(form);
      if (fits(Buffer.byteLength(text, "utf8"))) return encodeUserData(text);
    }
    if (options.gzipReader) {
      const whole = gzipBytes(render(false));
      if (fits(whole.length)) return whole.toString("base64");
    }
  }
  const form = compress === "auto" ? "all" : compress;
  const text = render(form);
  const encoded = encodeUserData(text);
  checkUserDataSize(target, text, encoded, form !== false);
  return encoded;
}

/**
 * A warning for user data over a cloud's limit (EC2: 16 KB before base64; ECS: 32 KB after base64), naming the sizes;
 * undefined when it fits both. For outputs whose target cloud the library does not know (the CLI, `userData`).
 */
export function userDataSizeWarning(what: string, text: string): string | undefined {
  const bytes = Buffer.byteLength(text, "utf8");
  const over = (Object.keys(USER_DATA_LIMITS) as UserDataLimitTarget[]).filter((t) => {
    const size = t === "ec2" ? bytes : base64Length(bytes);
    return size > USER_DATA_LIMITS[t].bytes;
  });
  if (over.length === 0) return undefined;
  const limits = over.map(
    (t) => `${USER_DATA_LIMITS[t].cloud}'s ${USER_DATA_LIMITS[t].bytes} (${USER_DATA_LIMITS[t].counted})`,
  );
  return `${what} is ${bytes} bytes (${base64Length(bytes)} in base64), over ${limits.join(" and ")}: the instance would refuse it. Fix: mirror fewer registries or runtimes, or deliver the node files with the Kubernetes DaemonSet`;
}

function base64Length(bytes: number): number {
  return 4 * Math.ceil(bytes / 3);
}
