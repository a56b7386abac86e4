/** Tuning of transfers (module settings); every field has a measured default. */
export interface TransferTuning {
  /** Largest project accepted, in bytes. Default 1 GiB; at most 5 GiB. */
  maxProjectSize?: number;
  /** Size of one multipart part, in bytes. Default 8 MiB; at least 5 MiB. */
  partSize?: number;
  /** Parts uploaded at once. Default 4. */
  partConcurrency?: number;
  /** Deadline of one request to a server (connect, and silence while waiting), in ms. Default 30 s. */
  requestTimeoutMs?: number;
  /** Deadline of a whole upload, in ms. Default 30 min. */
  uploadTimeoutMs?: number;
  /**
   * Directory where a streamed project larger than one part is spooled while its SHA-256 is
   * computed (so the hash travels with the upload). Default: the OS temporary directory. Use a
   * disk, not a RAM-backed tmpfs, for large projects.
   */
  spoolDir?: string;
  /**
   * Sign every part with the SHA-256 of its bytes over HTTPS too. Over plain HTTP parts are
   * always signed so (the server checks each part's bytes: one damaged in transit fails the
   * upload with `IntegrityError` and nothing is stored). Default `false`: over HTTPS parts go as
   * `UNSIGNED-PAYLOAD`, because TLS already protects each request and the project's SHA-256,
   * signed in CreateMultipartUpload, is checked on every download; turn it on to have the
   * server check the parts' bytes as well, at the cost of one more SHA-256 pass over every byte.
   */
  signParts?: boolean;
}
