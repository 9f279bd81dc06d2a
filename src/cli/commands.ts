/** The list of commands. Each command's module loads its heavy dependencies only when it runs. */
import type { Command } from './command.js';

export const commands: readonly Command<any>[] = [];
