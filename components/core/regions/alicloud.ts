import { PolicyError } from "../errors";

/** One Alibaba Cloud region. */
export interface AlicloudRegion {
  /** Region id, e.g. `cn-hangzhou`. */
  id: string;
  /** Alibaba Cloud's display name, e.g. `China (Hangzhou)`. */
  name: string;
  /** `closed` regions were shut down by Alibaba Cloud: selecting one is refused with this note. */
  status: "open" | "closed";
}

/**
 * Every public-cloud region (finance, government and other industry-cloud regions left out), from Alibaba
 * Cloud's region list and Container Registry endpoint pages (December 2025). Sorted by id.
 */
export const ALICLOUD_REGIONS: readonly AlicloudRegion[] = [
  { id: "ap-northeast-1", name: "Japan (Tokyo)", status: "open" },
  { id: "ap-northeast-2", name: "South Korea (Seoul)", status: "open" },
  { id: "ap-south-1", name: "India (Mumbai)", status: "closed" },
  { id: "ap-southeast-1", name: "Singapore", status: "open" },
  { id: "ap-southeast-2", name: "Australia (Sydney)", status: "closed" },
  { id: "ap-southeast-3", name: "Malaysia (Kuala Lumpur)", status: "open" },
  { id: "ap-southeast-5", name: "Indonesia (Jakarta)", status: "open" },
  { id: "ap-southeast-6", name: "Philippines (Manila)", status: "open" },
  { id: "ap-southeast-7", name: "Thailand (Bangkok)", status: "open" },
  { id: "cn-beijing", name: "China (Beijing)", status: "open" },
  { id: "cn-chengdu", name: "China (Chengdu)", status: "open" },
  { id: "cn-fuzhou", name: "China (Fuzhou - Local Region)", status: "open" },
  { id: "cn-guangzhou", name: "China (Guangzhou)", status: "open" },
  { id: "cn-hangzhou", name: "China (Hangzhou)", status: "open" },
  { id: "cn-heyuan", name: "China (Heyuan)", status: "open" },
  { id: "cn-hongkong", name: "China (Hong Kong)", status: "open" },
  { id: "cn-huhehaote", name: "China (Hohhot)", status: "open" },
  { id: "cn-nanjing", name: "China (Nanjing - Local Region)", status: "open" },
  { id: "cn-qingdao", name: "China (Qingdao)", status: "open" },
  { id: "cn-shanghai", name: "China (Shanghai)", status: "open" },
  { id: "cn-shenzhen", name: "China (Shenzhen)", status: "open" },
  { id: "cn-wuhan-lr", name: "China (Wuhan - Local Region)", status: "open" },
  { id: "cn-wulanchabu", name: "China (Ulanqab)", status: "open" },
  { id: "cn-zhangjiakou", name: "China (Zhangjiakou)", status: "open" },
  { id: "eu-central-1", name: "Germany (Frankfurt)", status: "open" },
  { id: "eu-west-1", name: "UK (London)", status: "open" },
  { id: "me-central-1", name: "Saudi Arabia (Riyadh - Partner Region)", status: "open" },
  { id: "me-east-1", name: "UAE (Dubai)", status: "open" },
  { id: "na-south-1", name: "Mexico", status: "open" },
  { id: "us-east-1", name: "US (Virginia)", status: "open" },
  { id: "us-southeast-1", name: "US (Atlanta)", status: "open" },
  { id: "us-west-1", name: "US (Silicon Valley)", status: "open" },
];

/** The catalog entry of an Alibaba Cloud region, or undefined. */
export function alicloudRegion(id: string): AlicloudRegion | undefined {
  return ALICLOUD_REGIONS.find((r) => r.id === id);
}

/** Container Registry (Personal Edition) hosts of a region. */
export interface AcrEndpoints {
  /** `registry.REGION.aliyuncs.com`, reachable from anywhere. */
  publicHost: string;
  /** `registry-vpc.REGION.aliyuncs.com`, reachable only from a VPC in the same region (no traffic fees). */
  vpcHost: string;
}

/** The ACR Personal Edition hosts of a region. */
export function acrEndpoints(region: AlicloudRegion): AcrEndpoints {
  return { publicHost: `registry.${region.id}.aliyuncs.com`, vpcHost: `registry-vpc.${region.id}.aliyuncs.com` };
}

const ACCELERATOR_ID = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** Throws unless `value` can be the id of an account's Docker Hub accelerator (one DNS label). */
export function validateAcceleratorId(field: string, value: unknown): string {
  if (typeof value !== "string" || !ACCELERATOR_ID.test(value)) {
    throw new PolicyError(
      field,
      value,
      "an accelerator id is one DNS label: lower-case letters, digits and inner hyphens, at most 63 characters",
      "copy only the id part of your accelerator address (https://<id>.mirror.aliyuncs.com) from the Container Registry console, Image Tools > Image Accelerator",
    );
  }
  return value;
}

/** The account's Docker Hub accelerator, `https://<id>.mirror.aliyuncs.com`. */
export function acceleratorUrl(acceleratorId: string): string {
  return `https://${acceleratorId}.mirror.aliyuncs.com`;
}
