import { acrEndpoints, ALICLOUD_REGIONS } from "./alicloud";
import { AWS_REGIONS, ecrHost } from "./aws";
import { type CloudName, CLOUDS, validateCloud } from "./catalog";

/** One row of the region list: a region and the endpoints the catalog derives for it. */
export interface RegionListing {
  cloud: CloudName;
  id: string;
  name: string;
  /** AWS partition, or `closed` for a region Alibaba Cloud shut down, else empty. */
  note: string;
  /** Derived endpoints, with placeholders (`ACCOUNT`) for per-account parts. */
  endpoints: string[];
}

/** Every catalog region of one cloud (or both, alicloud first), with its derived endpoints. */
export function listRegions(cloud?: CloudName): RegionListing[] {
  const clouds = cloud === undefined ? CLOUDS : [validateCloud("cloud", cloud)];
  const rows: RegionListing[] = [];
  for (const c of clouds) {
    if (c === "aws") {
      for (const r of AWS_REGIONS) {
        rows.push({
          cloud: c,
          id: r.id,
          name: r.name,
          note: r.partition,
          endpoints: [`https://${ecrHost("ACCOUNT", r)}/v2/PREFIX (ECR pull-through cache)`],
        });
      }
    } else {
      for (const r of ALICLOUD_REGIONS) {
        const acr = acrEndpoints(r);
        rows.push({
          cloud: c,
          id: r.id,
          name: r.name,
          note: r.status === "closed" ? "closed" : "",
          endpoints: r.status === "closed" ? [] : [`https://${acr.publicHost}`, `https://${acr.vpcHost} (VPC)`],
        });
      }
    }
  }
  return rows;
}

function pad(text: string, width: number): string {
  return text + " ".repeat(Math.max(0, width - text.length));
}

/** The region list as plain text for `registry-mirrors regions [--cloud C]`: a table per cloud. */
export function formatRegions(cloud?: CloudName): string {
  const rows = listRegions(cloud);
  const lines: string[] = [];
  for (const c of cloud === undefined ? CLOUDS : [cloud]) {
    const mine = rows.filter((r) => r.cloud === c);
    const idWidth = Math.max(...mine.map((r) => r.id.length)) + 2;
    const nameWidth = Math.max(...mine.map((r) => r.name.length)) + 2;
    const noteWidth = Math.max(...mine.map((r) => r.note.length)) + 2;
    if (lines.length > 0) lines.push("");
    lines.push(`${c}: ${mine.length} regions`);
    for (const r of mine) {
      lines.push(
        `  ${pad(r.id, idWidth)}${pad(r.name, nameWidth)}${pad(r.note, noteWidth)}${r.endpoints.join("  ")}`.trimEnd(),
      );
    }
    lines.push(
      c === "aws"
        ? "  ACCOUNT = awsAccountId, PREFIX = the rule's repository prefix (ecrPullThrough)"
        : "  Docker Hub accelerator in every region: https://<id>.mirror.aliyuncs.com (alicloudAcceleratorId)",
    );
  }
  return `${lines.join("\n")}\n`;
}
