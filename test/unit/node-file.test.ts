import { describe, expect, test } from "vitest";
import fc from "fast-check";
import { checkNodeFile, checkNodePath } from "../../components/core/node-file";
import { renderCloudConfig, renderShellUserData } from "../../components/core/userdata";
import { errorOf, expectPolicyError } from "./policy-error";

const FILE = { path: "/etc/containerd/certs.d/[::1]:5000/hosts.toml", content: "server = 'x'\n", mode: 0o644 };

describe("checkNodeFile", () => {
  test("returns the file it was given when it is fine", () => {
    const file = { ...FILE, secret: true };
    expect(checkNodeFile("files[0]", file)).toBe(file);
    expect(checkNodeFile("f", { ...FILE, mode: 0 }).mode).toBe(0);
    expect(checkNodeFile("f", { ...FILE, mode: 0o7777 }).mode).toBe(0o7777);
  });

  test.each([
    ["etc/docker/daemon.json", "a relative path"],
    ["/etc/docker/", "a folder"],
    ["/", "the root folder"],
    ["/etc/../root/x", "a .. part"],
    ["/etc/./x", "a . part"],
    ["/etc/it's", "a single quote"],
    ['/etc/"x"', "a double quote"],
    ["/etc/`x`", "a backquote"],
    ["/etc/x\\y", "a backslash"],
    ["/etc/x\ny", "a newline"],
    ["/etc/x\ty", "a tab"],
    ["/etc/my file", "a space"],
    ["/etc/x\u007f", "DEL"],
  ])("refuses the path %j (%s)", (path) => {
    const err = expectPolicyError(
      () => checkNodeFile("files[2]", { ...FILE, path }),
      "files[2].path",
      JSON.stringify(path),
      "absolute path",
    );
    expect(err.message).toContain("not a plain absolute file path");
  });

  test("names the field given for the path", () => {
    expectPolicyError(
      () => checkNodeFile("applyScript", { ...FILE, path: "apply.sh" }, { pathField: "scriptPath" }),
      "scriptPath",
      '"apply.sh"',
      "absolute path",
    );
    expectPolicyError(() => checkNodePath("containerd.hostsDir", 42), "containerd.hostsDir", "42", "absolute path");
  });

  test("refuses content without a final newline, and never shows the content", () => {
    const err = expectPolicyError(
      () => checkNodeFile("files[0]", { ...FILE, content: "password=hunter2" }),
      "files[0].content",
      "(content hidden)",
      "final newline",
    );
    expect(err.message).not.toContain("hunter2");
  });

  test.each<[unknown, string]>([
    [0o10000, "4096"],
    [-1, "-1"],
    [1.5, "1.5"],
    ["644", '"644"'],
  ])("refuses the mode %j", (mode, shown) => {
    expectPolicyError(
      () => checkNodeFile("files[0]", { ...FILE, mode: mode as number }),
      "files[0].mode",
      shown,
      "0o644",
    );
  });

  test("accepts every absolute path of plain names, and refuses it with a .. part added", () => {
    const name = fc
      .stringMatching(/^[A-Za-z0-9_+@:[\]-][A-Za-z0-9._+@:[\]-]{0,15}$/)
      .filter((s) => s !== "." && s !== "..");
    fc.assert(
      fc.property(fc.array(name, { minLength: 1, maxLength: 6 }), (parts) => {
        const path = `/${parts.join("/")}`;
        expect(checkNodePath("p", path)).toBe(path);
        expect(errorOf(() => checkNodePath("p", `/${[...parts, "..", "x"].join("/")}`)).field).toBe("p");
      }),
    );
  });
});

describe("the user-data forms use the node-file check", () => {
  test("for extra files, the apply script and the user script", () => {
    const script = "#!/bin/sh\n";
    expectPolicyError(
      () => renderCloudConfig({ applyScript: script, files: [{ path: "/etc/../x", content: "x\n", mode: 0o644 }] }),
      "files[0].path",
      '"/etc/../x"',
      "absolute path",
    );
    expectPolicyError(
      () => renderShellUserData({ applyScript: script, scriptPath: "/var/lib/my scripts/apply.sh" }),
      "scriptPath",
      "my scripts",
      "absolute path",
    );
    expectPolicyError(
      () => renderShellUserData({ applyScript: script, userScript: "#!/bin/sh\nexit 0", userScriptPath: "/x.sh" }),
      "userScript.content",
      "(content hidden)",
      "final newline",
    );
  });
});
