/**
 * A failure of tandem's HTTP/1.1 client, with undici's code for the same failure
 * (`UND_ERR_SOCKET`, `UND_ERR_HEADERS_TIMEOUT`, ...) or `HPE_INVALID_RESPONSE` for an answer that
 * is not HTTP/1.1, so that callers name it the same whichever client sent the request.
 */
export class Http1Error extends Error {
  readonly code: string;

  constructor(code: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "Http1Error";
    this.code = code;
  }
}
