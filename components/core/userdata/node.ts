import { renderCloudConfig } from "./cloud-config";
import type { UserDataArgs } from "./files";
import { checkPart, type MimePart, type MimeTarget, renderMimeMultipart, splitUserData } from "./mime";
import { renderShellUserData } from "./shell";

/** How the apply script is delivered when it is the only user data. */
export type UserDataFormat = "cloud-config" | "shell";

/** Inputs of {@link renderNodeUserData}. */
export interface NodeUserDataArgs extends UserDataArgs {
  /** `cloud-config` (default) or `shell`, when there are no user parts. */
  format?: UserDataFormat;
  /** The user's existing user data (a script, a `#cloud-config` or a MIME document), kept after ours. */
  userData?: string;
  /** The user's own parts, kept after ours and after `userData`, in order. */
  userParts?: MimePart[];
}

/**
 * User data for a cloud-init node (EC2, Alibaba Cloud ECS): the apply script alone as `#cloud-config`
 * or `#!/bin/sh`, or, when the user has parts of their own, MIME multipart with ours first. In MIME our
 * part is always the shell form: cloud-init merges cloud-config parts with list *replacement* by default,
 * so a user's own `runcmd` or `write_files` would silently drop ours.
 */
export function renderNodeUserData(args: NodeUserDataArgs): string {
  const userParts = collectUserParts(args.userData, args.userParts, "cloud-init");
  if (userParts.length === 0) return args.format === "shell" ? renderShellUserData(args) : renderCloudConfig(args);
  return renderMimeMultipart([scriptPart(args), ...userParts], { target: "cloud-init" });
}

/** The user's own parts (from their user data, then their part list), checked under the names they gave them. */
export function collectUserParts(
  userData: string | undefined,
  userParts: MimePart[] | undefined,
  target: MimeTarget | undefined,
): MimePart[] {
  const fromData = userData !== undefined ? splitUserData(userData) : [];
  if (target !== undefined) {
    fromData.forEach((part, i) => checkPart(part, `userData.parts[${i}]`, target));
    (userParts ?? []).forEach((part, i) => checkPart(part, `userParts[${i}]`, target));
  }
  return [...fromData, ...(userParts ?? [])];
}

export function scriptPart(args: UserDataArgs): MimePart {
  return { contentType: "text/x-shellscript", content: renderShellUserData(args), filename: "registry-mirrors.sh" };
}
