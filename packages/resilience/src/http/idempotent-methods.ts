/** The methods RFC 9110 §9.2.2 calls idempotent: sending one twice has the effect of sending it once. */
export const IDEMPOTENT_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);
