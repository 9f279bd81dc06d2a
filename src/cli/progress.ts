/** Progress rendering for the CLI; the library reports through `onProgress` callbacks only. */
import cliProgress from 'cli-progress';

export interface ProgressBar {
  update(value: number, payload?: Record<string, string | number>): void;
  stop(): void;
}

/** A bar on stderr when interactive; otherwise a quiet no-op (CI logs stay readable). */
export function progressBar(label: string, total: number, interactive: boolean, extraFormat = ''): ProgressBar {
  if (!interactive) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {percentage}% {value}/{total} eta {eta_formatted}${extraFormat}`,
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: true,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0);
  return {
    update(value, payload) {
      bar.update(value, payload);
    },
    stop() {
      bar.stop();
    },
  };
}
