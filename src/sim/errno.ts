// Linux errno values (x86-64 numbering). Model calls follow the kernel's convention: a non-negative
// number is success (often a value: an address, a count), a negative number is `-errno`. This keeps
// hot paths free of result objects while staying recognizable to kernel developers.

export const EPERM = 1;
export const ENOENT = 2;
export const EINTR = 4;
export const EIO = 5;
export const ENXIO = 6;
export const EBADF = 9;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EFAULT = 14;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENOTTY = 25;
export const ENOSPC = 28;
export const ERANGE = 34;
export const EDEADLK = 35;
export const EOVERFLOW = 75;
export const EOPNOTSUPP = 95;
export const EHWPOISON = 133;

const names: Record<number, string> = {
  [EPERM]: 'EPERM',
  [ENOENT]: 'ENOENT',
  [EINTR]: 'EINTR',
  [EIO]: 'EIO',
  [ENXIO]: 'ENXIO',
  [EBADF]: 'EBADF',
  [EAGAIN]: 'EAGAIN',
  [ENOMEM]: 'ENOMEM',
  [EACCES]: 'EACCES',
  [EFAULT]: 'EFAULT',
  [EBUSY]: 'EBUSY',
  [EEXIST]: 'EEXIST',
  [ENODEV]: 'ENODEV',
  [EINVAL]: 'EINVAL',
  [ENOTTY]: 'ENOTTY',
  [ENOSPC]: 'ENOSPC',
  [ERANGE]: 'ERANGE',
  [EDEADLK]: 'EDEADLK',
  [EOVERFLOW]: 'EOVERFLOW',
  [EOPNOTSUPP]: 'EOPNOTSUPP',
  [EHWPOISON]: 'EHWPOISON',
};

/** The symbolic name of an errno, with or without its sign: `errnoName(-14) === 'EFAULT'`. */
export function errnoName(code: number): string {
  const n = Math.abs(code);
  return names[n] ?? `E${n}`;
}

/** True when a kernel-style return value is an error (`rc < 0`). */
export function isErr(rc: number): boolean {
  return rc < 0;
}

/** A result for calls that return more than a number: `{ ok: true, value }` or `{ ok: false, errno }`. */
export type Result<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly errno: number };

export function ok<T>(value: T): Result<T> {
  return { ok: true, value };
}

/** `errno` is given positive (`err(EFAULT)`) and stored positive. */
export function err<T = never>(errno: number): Result<T> {
  return { ok: false, errno: Math.abs(errno) };
}
