/** Names the rule refuses, with why: every implementation refuses each, storing nothing. */
export const REFUSED_NAMES: [string, string][] = [
  ['".." inside', 'a..b'],
  ['a leading dot', '.hidden'],
  ['a slash', 'dir/project.zip'],
  ['a space', 'my project.zip'],
  ['256 characters', 'a'.repeat(256)],
  ['the Windows device name CON', 'CON'],
  ['the Windows device name nul.zip', 'nul.zip'],
  ['the Windows device name COM1.zip', 'COM1.zip'],
  ['the Windows device name Lpt9.tar.gz', 'Lpt9.tar.gz'],
  ['a trailing dot', 'a.'],
];

/** Names the rule accepts: the controls that show the refusals are not blanket. */
export const ACCEPTED_NAMES: [string, string][] = [
  ['a single character', '7'],
  ['255 characters', 'a'.repeat(255)],
  ['every allowed character', 'aZ09._-x.zip'],
  ['a device name inside a longer word', 'console.zip'],
  ['COM0 and COM10, which are not devices', 'COM0.COM10.zip'],
];
