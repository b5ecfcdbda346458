import { Piscina } from 'piscina';

/**
 * The ArrayBuffer to transfer for `view`, copying first only when transfer would be wrong: a view onto part of
 * a larger buffer (Node's pooled small Buffers) would detach its neighbours, and a SharedArrayBuffer is shared,
 * not moved. The returned view is the one to send.
 */
export function transferable(view: Uint8Array): { view: Uint8Array; transfer: ArrayBuffer[] } {
  const buf = view.buffer;
  if (buf instanceof ArrayBuffer && view.byteOffset === 0 && view.byteLength === buf.byteLength) {
    return { view, transfer: [buf] };
  }
  const copy = new Uint8Array(view.byteLength);
  copy.set(view);
  return { view: copy, transfer: [copy.buffer] };
}

/** Wraps a worker's return value so piscina transfers `buffers` instead of cloning them. */
export function moveReply<T extends object>(value: T, buffers: ArrayBuffer[]): T {
  const movable = { [Piscina.transferableSymbol]: buffers, [Piscina.valueSymbol]: value };
  // piscina types move() for its own Transferable shape; this object is that shape with runtime-only symbol keys.
  return Piscina.move(movable as unknown as Parameters<typeof Piscina.move>[0]) as unknown as T;
}
