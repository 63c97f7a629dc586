// Writes docs/openapi.json from a real sidecar, so the committed document is what is served.
import { writeFileSync } from "node:fs";
import { launchSidecar } from "tandem";

const token = "openapi-generation";
const sidecar = await launchSidecar({
  args: ["--listen", "127.0.0.1:0", "--admin", "127.0.0.1:0"],
  env: { ...process.env, TANDEM_TOKEN: token },
  stdio: "ignore",
});
try {
  const res = await fetch(`${sidecar.api}/v1/openapi.json`, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`GET /v1/openapi.json answered ${res.status}`);
  const doc = await res.json();
  writeFileSync(new URL("../docs/openapi.json", import.meta.url), `${JSON.stringify(doc, null, 2)}\n`);
  console.log(`docs/openapi.json: ${Object.keys(doc.paths).length} paths`);
} finally {
  await sidecar.stop();
}
