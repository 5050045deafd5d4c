import { PriceApi, PriceStore } from "./types";

/** Copies the supplier's prices into our store once. */
export async function syncPrices(api: PriceApi, store: PriceStore): Promise<number> {
  const prices = await api.fetchAll();
  for (const p of prices) {
    await store.upsert(p.sku, p.cents);
  }
  return prices.length;
}
