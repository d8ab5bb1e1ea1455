export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export const round = (n: number, digits = 1): number => Math.round(n * 10 ** digits) / 10 ** digits;
