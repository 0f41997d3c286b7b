/** A URI, Via or name-addr that does not follow the RFC 3261 §25.1 grammar. */
export class UriError extends Error {
  override name = 'UriError';
}
