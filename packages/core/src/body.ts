import type { IncomingMessage } from "node:http";
import { TandemError } from "./errors.js";

/** The 413 error for a body over `limit` bytes. */
export function payloadTooLarge(limit: number): TandemError {
  return new TandemError("payload_too_large", `request body is larger than the limit of ${limit} bytes`, {
    details: { limitBytes: limit },
  });
}

/**
 * Reads a request body of at most `limit` bytes: reading stops and the promise rejects with a
 * 413 as soon as the body passes it, so a chunked body cannot grow memory. Check a declared
 * `content-length` against the limit before calling, to answer without reading at all.
 */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.off("data", onData);
        req.pause();
        reject(payloadTooLarge(limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on("data", onData);
    req.once("end", () => resolve(Buffer.concat(chunks, size)));
    req.once("error", (error) =>
      reject(new TandemError("bad_request", `request body could not be read: ${error.message}`, { cause: error })),
    );
  });
}
