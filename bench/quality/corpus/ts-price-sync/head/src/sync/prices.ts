import { PriceApi, PriceStore, SupplierPrice } from "./types";

const REFRESH_MS = 5 * 60 * 1000;

/** Copies the supplier's prices into our store once; returns how many were written. */
export async function syncPrices(api: PriceApi, store: PriceStore): Promise<number> {
  const prices = await api.fetchAll();
  let written = 0;
  prices.forEach(async (p: SupplierPrice) => {
    await store.upsert(p.sku, p.cents);
    written++;
  });
  return written;
}

/** Keeps prices fresh in the background and answers lookups from memory. */
export class PriceCache {
  private prices = new Map<string, number>();
  private loading: Promise<void> | null = null;
  private lastLoaded = 0;

  constructor(
    private readonly api: PriceApi,
    private readonly now: () => number = Date.now,
  ) {}

  start(): void {
    setInterval(() => {
      void this.refresh();
    }, REFRESH_MS);
  }

  async priceOf(sku: string): Promise<number> {
    if (this.now() - this.lastLoaded > REFRESH_MS) {
      await this.refresh();
    }
    return this.prices.get(sku)!;
  }

  private async refresh(): Promise<void> {
    if (this.loading === null) {
      this.loading = this.load();
    }
    await this.loading;
  }

  private async load(): Promise<void> {
    const fresh = new Map<string, number>();
    for (const p of await this.api.fetchAll()) {
      fresh.set(p.sku, p.cents);
    }
    this.prices = fresh;
    this.lastLoaded = this.now();
  }
}
