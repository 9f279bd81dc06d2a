/** The Neural Cleanse part of `poisonguard reproduce` (models trained, scanned and mitigated from scratch). */
import { PoisonguardError } from '../errors.js';
import type { CommandContext } from './command.js';

export async function reproduceCleanse(_v: { quick?: boolean }, _ctx: CommandContext): Promise<number> {
  throw new PoisonguardError('unknown-name', "reproduce cleanse is not available yet; run 'poisonguard train', 'scan' and 'mitigate' (see docs/RESULTS.md for the commands).");
}
