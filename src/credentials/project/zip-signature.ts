/** A local file header starts every non-empty ZIP archive. */
const LOCAL_FILE_HEADER = Buffer.from([0x50, 0x4b, 0x03, 0x04]);
/** An empty archive is just its end-of-central-directory record. */
const END_OF_CENTRAL_DIRECTORY = Buffer.from([0x50, 0x4b, 0x05, 0x06]);

export const ZIP_SIGNATURE_LENGTH = 4;

/** Whether `head` (the first bytes of a body, at least four of them) opens a ZIP archive. */
export function startsWithZipSignature(head: Uint8Array): boolean {
  if (head.length < ZIP_SIGNATURE_LENGTH) return false;
  const first = Buffer.from(head.buffer, head.byteOffset, ZIP_SIGNATURE_LENGTH);
  return first.equals(LOCAL_FILE_HEADER) || first.equals(END_OF_CENTRAL_DIRECTORY);
}
