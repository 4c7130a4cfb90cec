// Deterministic entry contents, so that a reader can check what a writer stored.
export function entryPayload(index: number): Uint8Array {
  const len = 16 + (index % 200);
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (index * 31 + i * 7) & 0xff;
  return b;
}
