/**
 * The index of the last time in `times` (ascending) at or before `t`, or -1 when all are later:
 * the frame to show for a time, the sample to read for a counter.
 */
export function lastAtOrBefore(times: ArrayLike<number>, t: number): number {
  if (times.length === 0 || times[0] > t) return -1;
  let lo = 0;
  let hi = times.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (times[mid] <= t) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
