// The smallest tandem app: the same code runs in library mode and under `tandem run`.
import { createRuntime } from "tandem";

const rt = await createRuntime();
const status = rt.status();
rt.logger.info({ event: "hello", ...status }, `running in ${rt.mode} mode`);

let sidecarRoutes = null;
if (rt.mode === "sidecar") {
  // In sidecar mode the API is a plain HTTP service any language can call.
  const res = await fetch(`${process.env.TANDEM_SIDECAR}/v1/openapi.json`, {
    headers: { authorization: `Bearer ${process.env.TANDEM_TOKEN}` },
  });
  sidecarRoutes = Object.keys((await res.json()).paths).length;
}
console.log(JSON.stringify({ demo: "hello", ...status, sidecarRoutes }));
await rt.close();
