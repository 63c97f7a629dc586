// Pieces of HTTP's grammar (RFC 9110) that requests and answers share.

/** A token: a method or a field name. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** A Content-Length: decimal digits, no more than a safe integer holds. */
export const DIGITS = /^\d{1,15}$/;
