import { describe, expect, it } from "vitest";
import { parseProxyTarget, parseWithUrl } from "../src/internal/proxy-target.js";

/** Targets plain and not, that the URL parser reads, rewrites or refuses. */
const TARGETS = [
  "http://payments",
  "http://payments/",
  "http://payments?x=1",
  "http://payments/?",
  "http://payments/a?",
  "http://payments/a??",
  "http://payments/a?b?c",
  "http://payments/a/b/c.json",
  "http://payments/api/v1.5",
  "http://pay-ments.svc.cluster.local/x",
  "http://payments/a/../b",
  "http://payments/a/./b",
  "http://payments/a/%2e%2e/b",
  "http://payments/a/%2E/b",
  "http://payments/a/..",
  "http://payments/%7Euser/%zz",
  "http://payments/a b",
  "http://payments/a\\b",
  "http://payments/a#frag",
  "http://payments/a?q='x'",
  "http://payments/a|b^c`d{e}",
  "http://payments/\u00e9",
  "http://payments/a\tb",
  "http://Payments/",
  "http://PAYMENTS.example/",
  "http://payments./",
  "http://payments:80/",
  "http://payments:080/",
  "http://payments:8080/",
  "http://payments:99999/",
  "http://user@payments/",
  "http://:secret@payments/",
  "http://user:secret@payments/",
  "http://127.0.0.1/",
  "http://127.1/",
  "http://0x7f.1/",
  "http://2130706433/",
  "http://a.0x1/",
  "http://3com/",
  "http://host.3com/",
  "http://[::1]/",
  "http://xn--nxasmq6b/",
  "http://xn--zz/",
  "http://a..b/",
  "http://-a-/",
  "http://pay%6dents/",
  "http:///payments",
  "http://",
  "HTTP://payments/",
  "https://payments/",
  "ftp://payments/",
  "payments/orders",
  "",
];

describe("parseProxyTarget", () => {
  it("reads a plain request line as the URL parser does", () => {
    expect(parseProxyTarget("http://payments/orders?x=1")).toEqual({
      host: "payments",
      hostname: "payments",
      port: "",
      credentials: false,
      path: "/orders?x=1",
    });
  });

  it("reads what the URL parser rewrites, or refuses, as it does", () => {
    expect(parseProxyTarget("http://Payments:80/a/../b?")).toMatchObject({
      hostname: "payments",
      port: "",
      path: "/b",
    });
    expect(parseProxyTarget("http://payments/a/%2e%2e/b")?.path).toBe("/b");
    expect(parseProxyTarget("http://127.1/")?.hostname).toBe("127.0.0.1");
    expect(parseProxyTarget("http://:secret@payments/")?.credentials).toBe(true);
    expect(parseProxyTarget("http://payments:8080/")).toMatchObject({ host: "payments:8080", port: "8080" });
    for (const refused of ["https://payments/", "http://", "payments/orders", "http://payments:99999/"]) {
      expect(parseProxyTarget(refused), refused).toBeUndefined();
    }
  });

  it("agrees with the URL parser on every target, plain or not, refusing what it refuses", () => {
    for (const target of TARGETS) {
      expect(parseProxyTarget(target), JSON.stringify(target)).toEqual(parseWithUrl(target));
    }
  });

  it("reads every target the same whichever target came before it (the last plain host is noted)", () => {
    for (const before of TARGETS) {
      for (const target of TARGETS) {
        parseProxyTarget(before);
        expect(parseProxyTarget(target), `${JSON.stringify(target)} after ${JSON.stringify(before)}`).toEqual(
          parseWithUrl(target),
        );
      }
    }
  });
});
