import { describe, expect, test } from "vitest";
import { RESTART_POLICIES, checkRestartPolicy } from "../../components/core/restart-policy";
import { renderNodeConfig } from "../../components/core/render/node-config";
import { expectPolicyError } from "./policy-error";

describe("checkRestartPolicy", () => {
  test("returns each policy it knows", () => {
    for (const policy of RESTART_POLICIES) expect(checkRestartPolicy(policy)).toBe(policy);
  });

  test.each<[unknown, string]>([
    [undefined, "nothing"],
    ["always", '"always"'],
    ["If-Needed", '"If-Needed"'],
    [true, "true"],
  ])("refuses %j, naming the field", (value, shown) => {
    expectPolicyError(() => checkRestartPolicy(value), "restartPolicy", shown, '"if-needed"');
    expectPolicyError(() => checkRestartPolicy(value, "plan.restartPolicy"), "plan.restartPolicy", shown, '"never"');
  });

  test("renderNodeConfig defaults to never and refuses an unknown policy through it", () => {
    const policy = { registries: { "docker.io": { mirrors: ["https://mirror.example.com"] } } };
    expect(renderNodeConfig({ policy }).applyScript).toBe(
      renderNodeConfig({ policy, restartPolicy: "never" }).applyScript,
    );
    expectPolicyError(
      () => renderNodeConfig({ policy, restartPolicy: "sometimes" as never }),
      "restartPolicy",
      '"sometimes"',
      '"if-needed"',
    );
  });
});
