import { describe, expect, it } from "vitest";
import { parseProxyTarget } from "../src/internal/proxy-target.js";

/** What `new URL` makes of `url`, in the shape the forward proxy reads. */
function byUrl(url: string) {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return undefined;
  }
  if (parsed.protocol !== "http:") return undefined;
  return {
    host: parsed.host,
    hostname: parsed.hostname,
    port: parsed.port,
    credentials: parsed.username !== "" || parsed.password !== "",
    path: parsed.pathname + parsed.search,
  };
}

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

  it("agrees with the URL parser on every target, plain or not", () => {
    const targets = [
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
    for (const target of targets) {
      expect(parseProxyTarget(target), JSON.stringify(target)).toEqual(byUrl(target));
    }
  });
});
