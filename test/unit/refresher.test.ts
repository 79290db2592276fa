import { describe, expect, it } from "vitest";
import { PolicyError } from "../../components/core/errors";
import {
  type RefresherSpec,
  acrHostRegion,
  ecrHostParts,
  irsaTrustPolicy,
  refresherManifests,
  refresherSchedule,
  validateSchedule,
} from "../../components/core/kubernetes";

const spec: RefresherSpec = {
  name: "pull-refresher",
  namespace: "apps",
  image: "docker.io/library/python:3.12-alpine",
  schedule: "7 */3 * * *",
  firstRun: true,
  identity: { awsRoleArn: "arn:aws:iam::123456789012:role/r" },
  config: {
    secretName: "pull",
    namespaces: ["apps"],
    registries: [
      {
        key: "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        source: "ecr",
        registryId: "123456789012",
        region: "us-east-1",
        domain: "amazonaws.com",
        safeAgeSeconds: 21600,
      },
    ],
  },
};

describe("refresher (pure core)", () => {
  it("reads account, region and domain from ECR hosts, region from ACR hosts", () => {
    expect(ecrHostParts("123456789012.dkr.ecr.us-east-1.amazonaws.com")).toEqual({
      registryId: "123456789012",
      region: "us-east-1",
      domain: "amazonaws.com",
    });
    expect(ecrHostParts("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn")?.domain).toBe("amazonaws.com.cn");
    expect(ecrHostParts("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com")?.region).toBe("us-gov-west-1");
    expect(ecrHostParts("ghcr.io")).toBeUndefined();
    expect(acrHostRegion("main-registry.cn-hangzhou.cr.aliyuncs.com")).toBe("cn-hangzhou");
    expect(acrHostRegion("main-registry-vpc.ap-southeast-1.cr.aliyuncs.com")).toBe("ap-southeast-1");
    expect(acrHostRegion("registry.cn-hangzhou.aliyuncs.com")).toBeUndefined();
  });

  it("schedules a quarter of the shortest validity, the minute spread by name and stable", () => {
    expect(refresherSchedule("a/x", ["ecr"])).toMatch(/^\d{1,2} \*\/3 \* \* \*$/);
    expect(refresherSchedule("a/x", ["ecr", "acr"])).toMatch(/^([0-9]|1[0-4])-59\/15 \* \* \* \*$/);
    expect(refresherSchedule("a/x", ["ecr"])).toBe(refresherSchedule("a/x", ["ecr"]));
    const minutes = new Set(["a", "b", "c", "d", "e", "f"].map((n) => refresherSchedule(n, ["ecr"])));
    expect(minutes.size).toBeGreaterThan(1);
  });

  it("accepts cron schedules and macros, refuses the rest naming the field", () => {
    for (const ok of ["*/15 * * * *", "7-59/15 * * * *", "0 */3 * * *", "0 0 * * MON-FRI", "@hourly"])
      expect(validateSchedule("s", ok)).toBe(ok);
    for (const bad of ["every hour", "* * * *", "* * * * * *", "", 5]) {
      expect(() => validateSchedule("refresher.schedule", bad)).toThrow(PolicyError);
    }
  });

  it("refuses an OIDC provider that is not an IAM provider ARN", () => {
    expect(() => irsaTrustPolicy("f", "oidc.eks.us-east-1.amazonaws.com/id/X", "ns", "sa")).toThrow(
      /not an IAM OIDC provider ARN/,
    );
  });

  it("names the ConfigMap and the first-run Job by their content; no Job without firstRun", () => {
    const a = refresherManifests(spec);
    const b = refresherManifests({ ...spec, config: { ...spec.config, namespaces: ["apps", "jobs"] } });
    expect(a.configMap.metadata.name).not.toBe(b.configMap.metadata.name);
    expect(a.job?.metadata.name).not.toBe(b.job?.metadata.name);
    expect(refresherManifests(spec)).toEqual(a);
    expect(refresherManifests({ ...spec, firstRun: false }).job).toBeUndefined();
    expect(b.roles.map((r) => r.metadata.namespace)).toEqual(["apps", "jobs"]);
  });
});
