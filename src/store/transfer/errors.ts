/**
 * The copy will not start (or not go on) because of what it found, not because something broke:
 * nothing has been written that the message does not mention. The CLI answers it with exit code 2,
 * like a usage error, so scripts can tell "fix your setup" from "try again".
 */
export class TransferRefused extends Error {
  override name = 'TransferRefused';
}
