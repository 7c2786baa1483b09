// A progress bar on a terminal (redrawn in place on stderr); one line per finished case anywhere else (CI logs).
export interface Progress {
  done(label: string, ok: boolean): void;
  finish(): void;
}

const WIDTH = 24;

export function progressBar(total: number, stream: NodeJS.WriteStream = process.stderr): Progress {
  let finished = 0;
  let failed = 0;
  const started = Date.now();
  const draw = (label: string) => {
    const filled = Math.round((finished / total) * WIDTH);
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    stream.write(
      `\r[${"#".repeat(filled)}${".".repeat(WIDTH - filled)}] ${finished}/${total} ${failed ? `(${failed} failing) ` : ""}${seconds}s ${label}`
        .padEnd(100)
        .slice(0, 100),
    );
  };
  if (stream.isTTY) draw("");
  return {
    done(label, ok) {
      finished++;
      if (!ok) failed++;
      if (stream.isTTY) draw(label);
      else stream.write(`[${finished}/${total}] ${ok ? "ok  " : "FAIL"} ${label}\n`);
    },
    finish() {
      if (stream.isTTY) stream.write("\n");
    },
  };
}
