import type { Store } from '../../src/store/port.ts';

type Method<K extends keyof Store> = Extract<Store[K], (...args: never[]) => unknown>;

/**
 * `store` with `before` run and awaited ahead of its `method` (what another request does in that
 * moment): the interleavings the race tests land on purpose instead of hoping for them. `when`
 * picks the calls (default: every one); `once` runs `before` for the first picked call only.
 * Every other method passes through to `store`.
 */
export function racingStore<K extends keyof Store>(
  store: Store,
  method: K,
  before: () => Promise<unknown>,
  options: { once?: boolean; when?: (...args: Parameters<Method<K>>) => boolean } = {},
): { store: Store; ran: () => number } {
  let ran = 0;
  const racing = new Proxy(store, {
    get(target, property) {
      if (property === method)
        return async (...args: Parameters<Method<K>>) => {
          if ((!options.once || ran === 0) && (options.when?.(...args) ?? true)) {
            ran++;
            await before();
          }
          return Reflect.apply(target[method] as Method<K>, target, args);
        };
      const value = Reflect.get(target, property, target);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
  return { store: racing, ran: () => ran };
}
