/** The list of commands. Each command's module loads its heavy dependencies only when it runs. */
import type { Command } from './command.js';
import { certifyCommand } from './certify.js';

export const commands: readonly Command<any>[] = [certifyCommand];
