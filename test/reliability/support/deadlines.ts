/**
 * The figures the storage fault specs share (matrix, faults-storage, faults-slow-commit): how far
 * past its deadline a call may settle, and the part size of the backends under test. Each spec
 * keeps its own deadlines, chosen for the faults it injects.
 */

/** What a call may take beyond its deadline (issue 10: "within its deadline plus 2 s"). */
export const SLACK_MS = 2_000;

/** The part size of the backends under test: S3's smallest, so that 12 MiB span 3 parts. */
export const PART_SIZE = 5 * 1024 * 1024;
