/** The list of commands. Each command's module loads its heavy dependencies only when it runs. */
import type { Command } from './command.js';
import { certifyCommand } from './certify.js';
import { evaluateCommand } from './evaluate.js';
import { reportCommand } from './report.js';
import { scanCommand } from './scan.js';
import { trainCommand } from './train.js';
import { reproduceCommand } from './reproduce.js';
import { demoCommand } from './demo.js';
import { mitigateCommand } from './mitigate.js';
import { filterCommand } from './filter.js';
import { zooCommand } from './zoo.js';
import { workerCommand } from './worker.js';

export const commands: readonly Command<any>[] = [certifyCommand, trainCommand, evaluateCommand, reportCommand, scanCommand, reproduceCommand, mitigateCommand, filterCommand, zooCommand, workerCommand, demoCommand];
