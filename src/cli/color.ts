// Whether to colour output: only on a terminal, and never when NO_COLOR is set (no-color.org).

export function useColor(stream: { isTTY?: boolean }): boolean {
  const noColor = process.env.NO_COLOR;
  return stream.isTTY === true && (noColor === undefined || noColor === '');
}
